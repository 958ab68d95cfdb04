/** `catty secrets set <NAME> [VALUE] [--inject HOST[:PORT] [--header NAME]]`: VALUE from a hidden
 * prompt (TTY) or stdin when omitted; with --inject the session's egress proxy adds it as a header
 * for that host, and the machine never holds it (cli/secrets/inject.ts). */
import type { Command } from 'commander';
import { print, type Context, type Runner } from '../../context.js';
import { SecretStore, defaultSecretStoreOptions, validateSecretName } from '../../secrets/store.js';
import { readHidden, readAllStdin } from '../../secrets/prompt.js';
import { UserError } from '../../../session-runtime/wire/errors.js';
import { hostPort } from '../../../session-runtime/wire/network-policy.js';
import { ExitCode } from '../../errors.js';
import { parseInjectOption } from '../../secrets/inject.js';
import type { InjectSetting } from '../../secrets/store.js';

/** `Authorization: Bearer … for api.github.com:443`. */
export function describeInject(inject: InjectSetting): string {
  return `${inject.header}: ${inject.bearer ? 'Bearer <value>' : '<value>'} for ${hostPort(inject.host, inject.port)}`;
}

export function register(secrets: Command, run: Runner): void {
  secrets
    .command('set')
    .description('set a secret (omit VALUE to type it hidden, or pipe it on stdin)')
    .argument('<NAME>', 'like an environment variable: A-Z, 0-9, _')
    .argument('[VALUE]', 'the value (visible in your shell history: prefer the prompt)')
    .option('--inject <host>', 'keep it out of the session: its network proxy adds it to requests to HOST[:PORT] (default port 443)')
    .option('--header <name>', 'with --inject: the header to set to the value as it is (default: Authorization: Bearer <value>)')
    .action(run(async (ctx, name: string, value: string | undefined, opts: { inject?: string; header?: string }) => setSecret(ctx, name, value, opts)));
}

export async function setSecret(ctx: Context, name: string, value: string | undefined, opts: { inject?: string; header?: string } = {}): Promise<void> {
  validateSecretName(name);
  if (opts.header !== undefined && opts.inject === undefined) throw new UserError('--header goes with --inject HOST.', { exitCode: ExitCode.usage });
  const inject = opts.inject === undefined ? undefined : parseInjectOption(opts.inject, opts.header);
  let secret = value;
  if (secret === undefined) {
    secret = ctx.stdin.isTTY ? await readHidden(ctx, `Value for ${name}: `) : (await readAllStdin(ctx.stdin)).replace(/\r?\n$/, '');
  }
  if (secret.length === 0) throw new UserError('Empty secret value.', { hint: 'Use `catty secrets rm` to remove a secret.' });
  new SecretStore(defaultSecretStoreOptions(ctx)).set(name, secret, inject);
  print(ctx.stderr, inject ? `Saved ${name}: sessions' network proxy adds it as ${describeInject(inject)}; the session never holds it.` : `Saved ${name}.`);
}
