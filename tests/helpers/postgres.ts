/**
 * Real Postgres for tests: one server per vitest run, shared by its worker forks, started by
 * whichever fork asks first (initdb --no-sync + pg_ctl, ~2 s) and stopped when the run's main
 * process exits (a detached watchdog); one fresh database per API or test file (CREATE DATABASE
 * from a template that is already migrated, ~0.2 s).
 *
 * Why not a vitest globalSetup: vitest.config.ts is shared by every suite and most never need
 * Postgres; this way a run that does not ask for it pays nothing. The forks find each other by
 * the run's main pid (their parent): `/tmp/catty-pg-<pid>/`, claimed with an atomic mkdir.
 *
 * `CATTY_TEST_DATABASE=postgres` makes startTestApi and makeTestDeps use it instead of SQLite.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync, chownSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { openDatabase, type Db } from '../../api/state/db.js';

export const PG_BIN = '/usr/lib/postgresql/15/bin';

export type TestDatabaseKind = 'sqlite' | 'postgres';

/** Which database the API suites run on (CATTY_TEST_DATABASE, default sqlite). */
export function testDatabaseKind(): TestDatabaseKind {
  return process.env.CATTY_TEST_DATABASE === 'postgres' ? 'postgres' : 'sqlite';
}

export interface PostgresServer {
  /** The run's directory: data/, the socket, the log. */
  dir: string;
  port: number;
  /** postgres://postgres@127.0.0.1:<port>/<database> */
  url(database: string): string;
}

interface Started {
  port: number;
  pid?: number;
}

const POSTGRES_USER = 'postgres';
/** The migrated template every fresh database is copied from. */
const TEMPLATE = 'catty_template';

/** Runs a Postgres program as the postgres user (initdb refuses root). */
function asPostgres(program: string, args: string[], options: { cwd?: string } = {}): string {
  const command = process.getuid?.() === 0 ? ['runuser', ['-u', POSTGRES_USER, '--', join(PG_BIN, program), ...args]] : [join(PG_BIN, program), args];
  return execFileSync(command[0] as string, command[1] as string[], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...options });
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * A Postgres server of its own in `dir` (made here, owned by the postgres user), listening on
 * 127.0.0.1:<a free port> and on a socket in `dir`. Tuned for tests: nothing is synced.
 */
export async function startPostgresServer(dir: string): Promise<{ port: number; stop(): void; start(): void }> {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  if (process.getuid?.() === 0) {
    const uid = Number(execFileSync('id', ['-u', POSTGRES_USER], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', POSTGRES_USER], { encoding: 'utf8' }).trim());
    chownSync(dir, uid, gid);
  }
  const data = join(dir, 'data');
  asPostgres('initdb', ['--no-sync', '-A', 'trust', '-U', POSTGRES_USER, '-E', 'UTF8', '--locale=C.UTF-8', '-D', data]);
  const port = await freePort();
  const options = [
    `-p ${port}`,
    '-c listen_addresses=127.0.0.1',
    `-c unix_socket_directories=${dir}`,
    '-c fsync=off',
    '-c synchronous_commit=off',
    '-c full_page_writes=off',
    '-c max_connections=400',
    '-c shared_buffers=32MB',
  ].join(' ');
  const start = () => void asPostgres('pg_ctl', ['-w', '-t', '30', '-D', data, '-l', join(dir, 'postgres.log'), '-o', options, 'start']);
  // fast: connections are cut and what was committed is kept (immediate would lose the last
  // commits: nothing is synced here).
  const stop = () => void asPostgres('pg_ctl', ['-w', '-D', data, '-m', 'fast', 'stop']);
  start();
  return { port, start, stop };
}

async function adminQuery(port: number, database: string, text: string): Promise<void> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: POSTGRES_USER, database });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

/** Started by the first fork to ask: the server, its template migrated, its watchdog. */
async function startShared(dir: string, runPid: number): Promise<Started> {
  const server = await startPostgresServer(dir);
  await adminQuery(server.port, 'postgres', `CREATE DATABASE ${TEMPLATE} TEMPLATE template0`);
  const template = await openDatabase(`postgres://${POSTGRES_USER}@127.0.0.1:${server.port}/${TEMPLATE}`);
  await template.close();
  // Stops the server and removes its directory once the run's main process is gone.
  const watchdog = spawn(
    'sh',
    ['-c', `while kill -0 ${runPid} 2>/dev/null; do sleep 1; done; runuser -u ${POSTGRES_USER} -- ${PG_BIN}/pg_ctl -D '${join(dir, 'data')}' -m immediate stop >/dev/null 2>&1 || ${PG_BIN}/pg_ctl -D '${join(dir, 'data')}' -m immediate stop >/dev/null 2>&1; rm -rf '${dir}'`],
    { detached: true, stdio: 'ignore' },
  );
  watchdog.unref();
  return { port: server.port };
}

let shared: Promise<PostgresServer> | null = null;

/** The run's shared server (started on first use). */
export function sharedPostgres(): Promise<PostgresServer> {
  return (shared ??= (async () => {
    // Forks of one vitest run share a parent; a test started on its own uses its own pid.
    const runPid = process.env.VITEST_WORKER_ID ? process.ppid : process.pid;
    const dir = `/tmp/catty-pg-${runPid}`;
    const claim = `${dir}.claim`;
    const ready = join(`${dir}.state`);
    let started: Started;
    try {
      mkdirSync(claim);
      try {
        started = await startShared(dir, runPid);
        writeFileSync(ready, JSON.stringify(started));
      } catch (err) {
        writeFileSync(ready, JSON.stringify({ error: (err as Error).message }));
        throw err;
      }
      // The claim and state files go with the server's directory.
      spawn('sh', ['-c', `while kill -0 ${runPid} 2>/dev/null; do sleep 1; done; rm -rf '${claim}' '${ready}'`], { detached: true, stdio: 'ignore' }).unref();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      started = await waitForState(ready);
    }
    return { dir, port: started.port, url: (database: string) => `postgres://${POSTGRES_USER}@127.0.0.1:${started.port}/${database}` };
  })());
}

async function waitForState(file: string): Promise<Started> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (existsSync(file)) {
      const state = JSON.parse(readFileSync(file, 'utf8')) as Started & { error?: string };
      if (state.error) throw new Error(`the shared test Postgres failed to start: ${state.error}`);
      return state;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('the shared test Postgres did not start within 60 s');
}

/** A new database on the shared server; `migrated` (default) copies the migrated template. */
export async function freshDatabaseUrl(options: { migrated?: boolean } = {}): Promise<string> {
  const server = await sharedPostgres();
  const name = `t_${randomBytes(6).toString('hex')}`;
  await adminQuery(server.port, 'postgres', `CREATE DATABASE ${name} TEMPLATE ${options.migrated === false ? 'template0' : TEMPLATE}`);
  return server.url(name);
}

/** The state database for a test: in-memory SQLite, or a fresh Postgres database. */
export async function openTestDb(kind: TestDatabaseKind = testDatabaseKind()): Promise<Db> {
  return openDatabase(kind === 'postgres' ? await freshDatabaseUrl() : ':memory:');
}

/** Removes a directory a dedicated server used (tests that start their own). */
export function removeServerDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** CATTY_DATABASE_URL of a fresh database when the suites run on Postgres; nothing on SQLite. */
export async function testDatabaseEnv(): Promise<Record<string, string>> {
  return testDatabaseKind() === 'postgres' ? { CATTY_DATABASE_URL: await freshDatabaseUrl() } : {};
}

/** The database a catty-api with this environment uses: its Postgres, or <dataDir>/catty.db. */
export function openApiDb(dataDir: string, env: Record<string, string | undefined> = {}): Promise<Db> {
  return openDatabase(env.CATTY_DATABASE_URL ?? join(dataDir, 'catty.db'));
}
