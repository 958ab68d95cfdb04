/** `catty stop <label> [--delete]`. */
import type { Command } from 'commander';
import { routes } from '../../api/contract/routes.js';
import { print, type Context, type Runner } from '../context.js';
import { resolveApi } from '../api.js';
import { parseLabel } from './options.js';
import { removeRecord } from '../sessions/store.js';

export function register(program: Command, run: Runner): void {
  program
    .command('stop')
    .description('stop a session (its last snapshot stays downloadable unless --delete)')
    .argument('<label>', 'session label', parseLabel)
    .option('--delete', 'also delete the session and its snapshots')
    .action(run(async (ctx, label: string, opts: { delete?: boolean }) => stop(ctx, label, opts.delete === true)));
}

export async function stop(ctx: Context, label: string, del: boolean): Promise<void> {
  const api = await resolveApi(ctx);
  const session = await api.call(routes.stop, { params: { ref: label } });
  if (del) {
    await api.call(routes.deleteSession, { params: { ref: label } });
    removeRecord(ctx, label);
    print(ctx.stderr, `Deleted ${label}.`);
    return;
  }
  print(ctx.stderr, `Stopped ${label} (${session.status}). Get its files with \`catty download ${label}\`.`);
}
