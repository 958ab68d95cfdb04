/**
 * `catty-api` commands. `main(argv)` returns an exit code (or never, while serving); only
 * bin.ts calls process.exit.
 *   catty-api [--listen H:P] [--data-dir D] [--public-url U] [--provisioner local|docker]
 *             [--config FILE] [--local-credentials FILE]
 *   catty-api users add <email> [--password-stdin] | list [--json] | remove <email>
 *                   | reset-password <email> [--password-stdin]
 *   catty-api s3-server --listen H:P --dir D   (bin.ts: storage/s3-server.ts, the store replicas share)
 */
import { join } from 'node:path';
import { Command } from 'commander';
import { CONFIG_HELP, loadConfig, type ConfigFlags } from './config.js';
import { UserError, reportError } from '../session-runtime/wire/errors.js';
import { escapeForTerminal } from '../session-runtime/wire/safe-path.js';
import { EXIT_DATA_DIR_BUSY } from './contract/schemas.js';
import { writeLocalCredentials } from './local-credentials.js';
import { acquirePidLock } from './pid-lock.js';
import { createLogger } from './logger.js';
import { promptHidden, readPasswordStdin } from './password-prompt.js';
import { openStateDb, startApi } from './server.js';
import { createUser, listAccounts, removeUser, resetPassword } from './services/users.js';
import type { Db } from './state/db.js';
import { mkdirSync } from 'node:fs';

interface ServeFlags extends ConfigFlags {
  localCredentials?: string;
}

export async function serve(flags: ServeFlags, signals: NodeJS.EventEmitter = process): Promise<number> {
  const config = loadConfig(flags);
  const logger = createLogger({ level: config.logLevel, file: config.logFile });
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  // Replicas on one host share the data directory by design (shared mode: the Docker
  // provisioner's run directory and catty-node); their state is in Postgres, not in it.
  const claimed = config.mode === 'shared' ? { lock: { release: () => undefined } } : acquirePidLock(join(config.dataDir, DATA_DIR_LOCK));
  if ('heldBy' in claimed) throw new DataDirBusy(config.dataDir, claimed.heldBy);
  const { lock } = claimed;
  let api: Awaited<ReturnType<typeof startApi>>;
  try {
    api = await startApi(config, logger);
  } catch (err) {
    lock.release();
    throw err;
  }
  if (flags.localCredentials) await writeLocalCredentials(api.deps, api.url, flags.localCredentials);
  process.stdout.write(`catty-api listening on ${api.url}\n`);
  logger.info({ url: api.url, dataDir: config.dataDir, provisioner: config.provisioner, mode: config.mode }, 'listening');
  return new Promise<number>((resolve) => {
    const shutdown = (sig: string) => {
      logger.info({ signal: sig }, 'shutting down; machines keep running');
      void api
        .close()
        .finally(() => lock.release())
        .then(
          () => resolve(0),
          () => resolve(1),
        );
    };
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) signals.once(sig, () => shutdown(sig));
  });
}

/** The pid file that keeps a data directory to one catty-api (api/pid-lock.ts). */
export const DATA_DIR_LOCK = 'catty-api.pid';

class DataDirBusy extends UserError {
  constructor(dataDir: string, pid: number) {
    super(`another catty-api (pid ${pid}) is already serving ${dataDir}`, { hint: 'Stop it first, or give this one its own --data-dir.', exitCode: EXIT_DATA_DIR_BUSY });
  }
}

/** Runs `work` on the API's database: CATTY_DATABASE_URL's Postgres, or the data directory's
 * SQLite file (beside a serving API: SQLite's lock is shared). */
async function withDb(flags: ConfigFlags, work: (db: Db) => Promise<number> | number): Promise<number> {
  const config = loadConfig(flags);
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const db = await openStateDb(config);
  try {
    return await work(db);
  } finally {
    await db.close();
  }
}

type PasswordFlags = ConfigFlags & { passwordStdin?: boolean };
const readPassword = (flags: PasswordFlags, email: string) => (flags.passwordStdin ? readPasswordStdin() : promptHidden(`Password for ${email}: `));
const now = () => Date.now();

export function addUser(flags: PasswordFlags, email: string): Promise<number> {
  return withDb(flags, async (db) => {
    const user = await createUser({ db, now }, email, await readPassword(flags, email));
    process.stdout.write(`created ${user.email} (${user.id})\n`);
    return 0;
  });
}

export function listUsers(flags: ConfigFlags & { json?: boolean }): Promise<number> {
  return withDb(flags, async (db) => {
    const accounts = await listAccounts(db);
    if (flags.json) {
      process.stdout.write(`${JSON.stringify(accounts, null, 2)}\n`);
      return 0;
    }
    const rows = accounts.map((a) => [a.email, a.createdAt.slice(0, 10), `${a.sessions} (${a.running} running)`, a.id]);
    const widths = [5, 7, 8].map((w, i) => Math.max(w, ...rows.map((r) => r[i]!.length)));
    const line = (cells: string[]) => cells.map((c, i) => (i < widths.length ? c.padEnd(widths[i]!) : c)).join('  ');
    process.stdout.write([line(['EMAIL', 'CREATED', 'SESSIONS', 'ID']), ...rows.map(line)].map((l) => `${escapeForTerminal(l)}\n`).join(''));
    return 0;
  });
}

export function resetUserPassword(flags: PasswordFlags, email: string): Promise<number> {
  return withDb(flags, async (db) => {
    const { user, signedOut } = await resetPassword({ db, now }, email, await readPassword(flags, email));
    process.stdout.write(`new password set for ${user.email}; ${signedOut} login${signedOut === 1 ? '' : 's'} signed out\n`);
    return 0;
  });
}

export function removeUserCommand(flags: ConfigFlags, email: string): Promise<number> {
  return withDb(flags, async (db) => {
    const user = await removeUser({ db }, email);
    process.stdout.write(`removed ${user.email} (${user.id})\n`);
    return 0;
  });
}

const configOptions = (cmd: Command) =>
  cmd
    .option('--listen <host:port>', 'address to listen on (CATTY_API_LISTEN)')
    .option('--public-url <url>', 'URL users reach (CATTY_PUBLIC_URL)')
    .option('--data-dir <dir>', 'state directory (CATTY_DATA_DIR)')
    .option('--provisioner <kind>', 'local or docker (CATTY_PROVISIONER)')
    .option('--config <file>', 'JSON config file (CATTY_CONFIG)');

export async function main(argv: string[]): Promise<number> {
  let result: Promise<number> = Promise.resolve(0);
  const program = configOptions(new Command('catty-api'))
    .description('The catty control plane.')
    .option('--local-credentials <file>', 'embedded local mode: write a token for the local account to <file> (0600)')
    .option('--debug', 'print stack traces of unexpected errors')
    .addHelpText('after', `\n${CONFIG_HELP}\n\nAlso: catty-api s3-server --listen H:P --dir D — an S3 store for replicas to share (CATTY_MODE=shared); --help for its key settings.`)
    .exitOverride()
    .action((opts: ServeFlags) => {
      result = serve(opts);
    });
  const users = program.command('users').description('manage accounts');
  const globals = () => program.opts<ConfigFlags>();
  configOptions(users.command('add <email>'))
    .description('create an account (password from a hidden prompt, or --password-stdin)')
    .option('--password-stdin', 'read the password from stdin')
    .action((email: string, opts: PasswordFlags) => {
      result = addUser({ ...globals(), ...opts }, email);
    });
  configOptions(users.command('list'))
    .description('list the accounts and how many sessions each has')
    .option('--json', 'print a JSON array')
    .action((opts: ConfigFlags & { json?: boolean }) => {
      result = listUsers({ ...globals(), ...opts });
    });
  configOptions(users.command('reset-password <email>'))
    .description('set a new password (hidden prompt, or --password-stdin) and sign the account out everywhere')
    .option('--password-stdin', 'read the password from stdin')
    .action((email: string, opts: PasswordFlags) => {
      result = resetUserPassword({ ...globals(), ...opts }, email);
    });
  configOptions(users.command('remove <email>'))
    .description('remove an account; refused while it has sessions (they keep machines and snapshots)')
    .action((email: string, opts: ConfigFlags) => {
      result = removeUserCommand({ ...globals(), ...opts }, email);
    });
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    const code = (err as { exitCode?: number }).exitCode;
    return typeof code === 'number' ? (code === 0 ? 0 : 2) : 2;
  }
  try {
    return await result;
  } catch (err) {
    return reportError(err, { program: 'catty-api', stderr: process.stderr, debug: program.opts<{ debug?: boolean }>().debug === true });
  }
}
