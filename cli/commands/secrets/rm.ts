/** `catty secrets rm <NAME>`. */
import type { Command } from 'commander';
import { print, type Runner } from '../../context.js';
import { SecretStore, defaultSecretStoreOptions } from '../../secrets/store.js';
import { UserError } from '../../../session-runtime/wire/errors.js';

export function register(secrets: Command, run: Runner): void {
  secrets
    .command('rm')
    .description('remove a secret')
    .argument('<NAME>')
    .action(
      run(async (ctx, name: string) => {
        if (!new SecretStore(defaultSecretStoreOptions(ctx)).remove(name)) throw new UserError(`No secret named ${name}.`);
        print(ctx.stderr, `Removed ${name}.`);
      }),
    );
}
