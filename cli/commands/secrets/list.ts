/** `catty secrets list [--json]`: names only, never values, and where each --inject secret goes. */
import type { Command } from 'commander';
import { print, type Runner } from '../../context.js';
import { SecretStore, defaultSecretStoreOptions } from '../../secrets/store.js';
import { describeInject } from './set.js';

export function register(secrets: Command, run: Runner): void {
  secrets
    .command('list')
    .alias('ls')
    .description('list secret names')
    .option('--json', 'print a JSON array of {name, inject?}')
    .action(
      run(async (ctx, opts: { json?: boolean }) => {
        const store = new SecretStore(defaultSecretStoreOptions(ctx));
        const names = store.names();
        const inject = store.injectSettings();
        if (opts.json) {
          print(ctx.stdout, JSON.stringify(names.map((name) => (inject[name] ? { name, inject: inject[name] } : { name })), null, 2));
          return;
        }
        if (names.length === 0) print(ctx.stderr, 'No secrets. Add one with `catty secrets set NAME`.');
        for (const name of names) print(ctx.stdout, inject[name] ? `${name}  (injected: ${describeInject(inject[name])})` : name);
      }),
    );
}
