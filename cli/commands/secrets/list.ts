/** `catty secrets list [--json]`: names only, never values. */
import type { Command } from 'commander';
import { print, type Runner } from '../../context.js';
import { SecretStore, defaultSecretStoreOptions } from '../../secrets/store.js';

export function register(secrets: Command, run: Runner): void {
  secrets
    .command('list')
    .alias('ls')
    .description('list secret names')
    .option('--json', 'print a JSON array of {name}')
    .action(
      run(async (ctx, opts: { json?: boolean }) => {
        const names = new SecretStore(defaultSecretStoreOptions(ctx)).names();
        if (opts.json) {
          print(ctx.stdout, JSON.stringify(names.map((name) => ({ name })), null, 2));
          return;
        }
        if (names.length === 0) print(ctx.stderr, 'No secrets. Add one with `catty secrets set NAME`.');
        for (const name of names) print(ctx.stdout, name);
      }),
    );
}
