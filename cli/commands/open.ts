/**
 * `catty open [label] [--print-url]`: the browser view (issue 24), signed in without a password.
 * The CLI's own token mints a one-time link (single use, a few minutes: `webLink`) that sets the
 * browser's cookie and lands on the sessions page, or on one session's terminal. Works against a
 * remote API and the embedded local control plane alike (resolveApi starts that one on demand).
 */
import type { Command } from 'commander';
import { routes } from '../../api/contract/routes.js';
import { print, type Context, type Runner } from '../context.js';
import { resolveApi } from '../api.js';
import { canOpenBrowser } from './login.js';
import { parseLabel } from './options.js';

export function register(program: Command, run: Runner): void {
  program
    .command('open')
    .description('open the browser view: every session, or one session\'s terminal and files (signed in for you)')
    .argument('[label]', 'session label (default: the sessions page)', parseLabel)
    .option('--print-url', 'print the one-time sign-in link instead of opening a browser')
    .action(run(async (ctx, label: string | undefined, opts: { printUrl?: boolean }) => open(ctx, label, opts.printUrl === true)));
}

/** The page a label leads to: its terminal (`/app/s/<label>`), else the sessions page. */
export function appPathFor(label: string | undefined): string {
  return label === undefined ? '/app/' : `/app/s/${encodeURIComponent(label)}`;
}

export async function open(ctx: Context, ref: string | undefined, printOnly: boolean): Promise<void> {
  const api = await resolveApi(ctx);
  // A session that does not exist is said here (exit 4), not by a page that cannot find it.
  const label = ref === undefined ? undefined : (await api.call(routes.getSession, { params: { ref } })).label;
  const link = await api.call(routes.webLink, { body: { next: appPathFor(label) } });
  const minutes = Math.max(1, Math.round((Date.parse(link.expiresAt) - Date.now()) / 60_000));
  if (printOnly || !canOpenBrowser(ctx.env)) {
    print(ctx.stdout, link.url);
    print(ctx.stderr, `This link signs a browser in once, within ${minutes} minute${minutes === 1 ? '' : 's'}; keep it to yourself.`);
    return;
  }
  const { default: openUrl } = await import('open');
  try {
    await openUrl(link.url);
    print(ctx.stderr, `Opened ${label === undefined ? 'your sessions' : label} in the browser.`);
  } catch {
    print(ctx.stdout, link.url);
    print(ctx.stderr, `Could not open a browser; open this link (once, within ${minutes} minute${minutes === 1 ? '' : 's'}).`);
  }
}
