/**
 * The state database: SQLite (a file, the embedded default) or Postgres (`CATTY_DATABASE_URL`,
 * shared by API replicas), behind one Kysely query layer. `openDatabase` connects, brings the
 * schema up to date (migrate.ts) and returns a `Db`; every state function takes one.
 */
import Database from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect, sql, type Transaction } from 'kysely';
import pg from 'pg';
import { migrateSqlite, migratePostgres } from './migrate.js';
import { databaseUnreachable } from './db-errors.js';
import { unavailableAs503 } from './pg-pool.js';
import type { Dialect, Schema } from './schema.js';

export type { Dialect };

export interface Db {
  /** The query builder (inside `transaction`, the transaction's). */
  readonly k: Kysely<Schema>;
  readonly dialect: Dialect;
  /**
   * Runs `work` in one transaction; inside one already, `work` joins it (Kysely refuses nested
   * transactions). SQLite: BEGIN IMMEDIATE, which takes the write lock at once, so every write
   * transaction is serialised across processes and none fails upgrading a read lock.
   */
  transaction<T>(work: (tx: Db) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** A path (or ':memory:') for SQLite, or a postgres:// (postgresql://) URL. */
export async function openDatabase(target: string): Promise<Db> {
  return /^postgres(ql)?:\/\//i.test(target) ? openPostgres(target) : openSqlite(target);
}

function openSqlite(path: string): Db {
  const raw = new Database(path);
  raw.pragma('journal_mode = WAL');
  raw.pragma('foreign_keys = ON');
  // Another process (the admin command) may hold the write lock briefly.
  raw.pragma('busy_timeout = 5000');
  migrateSqlite(raw);
  const k = new Kysely<Schema>({ dialect: new SqliteDialect({ database: raw }) });
  const transaction = <T>(work: (tx: Db) => Promise<T>): Promise<T> =>
    // One connection (Kysely's SQLite driver has one, behind a mutex): this process's other
    // queries wait for the COMMIT.
    k.connection().execute(async (conn) => {
      await sql`BEGIN IMMEDIATE`.execute(conn);
      try {
        const result = await work(inside(conn, 'sqlite'));
        await sql`COMMIT`.execute(conn);
        return result;
      } catch (err) {
        await sql`ROLLBACK`.execute(conn);
        throw err;
      }
    });
  return { k, dialect: 'sqlite', transaction, close: () => k.destroy() };
}

/** pg returns BIGINT (int8: sizes, COUNT(*)) as a string so as not to lose precision past 2^53;
 * ours are byte counts and counts, far below that: numbers, here, once. */
const INT8_OID = 20;
const parseInt8 = (text: string): number => Number(text);
const types = { getTypeParser: ((oid: number, format?: 'text' | 'binary') => (oid === INT8_OID ? parseInt8 : pg.types.getTypeParser(oid, format))) as typeof pg.types.getTypeParser };

async function openPostgres(url: string): Promise<Db> {
  let poolConfig: pg.PoolConfig;
  try {
    new URL(url);
    poolConfig = { connectionString: url };
  } catch {
    throw databaseUnreachable(url, 'it is not a valid URL');
  }
  const pool = new pg.Pool({
    ...poolConfig,
    types,
    max: 10,
    // Postgres down: a request waits at most this long for a connection, then fails (503).
    connectionTimeoutMillis: 3000,
    // A server that stops answering (not one that is down: that is refused at once) fails a
    // query after this long rather than holding its request forever. Row locks held by another
    // transaction (creates, lockUser) are waited for within it too.
    query_timeout: 15_000,
    keepAlive: true,
    idleTimeoutMillis: 10_000,
    // Idle connections do not keep a finished process (`catty-api users`, a test) alive.
    allowExitOnIdle: true,
  });
  // A connection that dies while idle in the pool (the server restarted) must not crash the
  // process: the pool drops it, and the next query connects again.
  pool.on('error', () => undefined);
  try {
    await migratePostgres(poolConfig, types);
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw databaseUnreachable(url, (err as Error).message, err);
  }
  const k = new Kysely<Schema>({ dialect: new PostgresDialect({ pool: unavailableAs503(pool) }) });
  const transaction = <T>(work: (tx: Db) => Promise<T>): Promise<T> => k.transaction().execute((trx) => work(inside(trx, 'postgres')));
  return { k, dialect: 'postgres', transaction, close: () => k.destroy() };
}

/** The Db a transaction's work sees: its queries on the transaction, nested calls joining it. */
function inside(k: Kysely<Schema> | Transaction<Schema>, dialect: Dialect): Db {
  const tx: Db = {
    k,
    dialect,
    transaction: (work) => work(tx),
    close: () => Promise.reject(new Error('close() inside a transaction')),
  };
  return tx;
}

export const iso = (ms: number): string => new Date(ms).toISOString();
