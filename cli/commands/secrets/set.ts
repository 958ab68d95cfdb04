/** `catty secrets set <NAME> [VALUE]`: VALUE from a hidden prompt (TTY) or stdin when omitted. */
import type { Command } from 'commander';
import { print, type Context, type Runner } from '../../context.js';
import { SecretStore, defaultSecretStoreOptions, validateSecretName } from '../../secrets/store.js';
import { readHidden, readAllStdin } from '../../secrets/prompt.js';
import { UserError } from '../../../session-runtime/wire/errors.js';

export function register(secrets: Command, run: Runner): void {
  secrets
    .command('set')
    .description('set a secret (omit VALUE to type it hidden, or pipe it on stdin)')
    .argument('<NAME>', 'like an environment variable: A-Z, 0-9, _')
    .argument('[VALUE]', 'the value (visible in your shell history: prefer the prompt)')
    .action(run(async (ctx, name: string, value: string | undefined) => setSecret(ctx, name, value)));
}

export async function setSecret(ctx: Context, name: string, value: string | undefined): Promise<void> {
  validateSecretName(name);
  let secret = value;
  if (secret === undefined) {
    secret = ctx.stdin.isTTY ? await readHidden(ctx, `Value for ${name}: `) : (await readAllStdin(ctx.stdin)).replace(/\r?\n$/, '');
  }
  if (secret.length === 0) throw new UserError('Empty secret value.', { hint: 'Use `catty secrets rm` to remove a secret.' });
  new SecretStore(defaultSecretStoreOptions(ctx)).set(name, secret);
  print(ctx.stderr, `Saved ${name}.`);
}
