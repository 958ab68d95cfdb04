/**
 * Brings a database's schema up to date: MIGRATIONS[i] runs once, in one transaction with the
 * schema_version row (i + 1) that records it. Two starts at once must not both migrate:
 * SQLite takes its write lock first (BEGIN IMMEDIATE, then re-reads the version); Postgres holds
 * a session-level advisory lock on one dedicated connection for the whole run, so replicas
 * started together wait for the first and then find nothing to do.
 */
import type Database from 'better-sqlite3';
import pg from 'pg';
import { MIGRATIONS, forDialect } from './migrations.js';

const VERSION_TABLE = 'CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)';

export function migrateSqlite(db: Database.Database): void {
  db.exec(VERSION_TABLE);
  const current = () => (db.prepare('SELECT MAX(version) AS v FROM schema_version').get() as { v: number | null }).v ?? 0;
  while (current() < MIGRATIONS.length) {
    db.exec('BEGIN IMMEDIATE');
    try {
      // Read again under the lock: another process may have migrated meanwhile.
      const version = current();
      if (version < MIGRATIONS.length) {
        for (const statement of MIGRATIONS[version]!) db.exec(forDialect(statement, 'sqlite'));
        db.prepare('INSERT INTO schema_version (version) VALUES (?)').run(version + 1);
      }
      db.exec('COMMIT');
    } catch (err) {
      db.exec('ROLLBACK');
      throw err;
    }
  }
}

/** Any fixed number: the advisory lock's name among this database's users. ('catty' in ASCII.) */
const MIGRATION_LOCK = 0x6361747479;

export async function migratePostgres(config: pg.ClientConfig, types: pg.ClientConfig['types']): Promise<void> {
  const client = new pg.Client({ ...config, types, connectionTimeoutMillis: 10_000 });
  client.on('error', () => undefined); // reported by the query that fails
  await client.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    await client.query(VERSION_TABLE);
    const { rows } = await client.query<{ v: number | null }>('SELECT MAX(version) AS v FROM schema_version');
    for (let version = rows[0]?.v ?? 0; version < MIGRATIONS.length; version++) {
      await client.query('BEGIN');
      try {
        for (const statement of MIGRATIONS[version]!) await client.query(forDialect(statement, 'postgres'));
        await client.query('INSERT INTO schema_version (version) VALUES ($1)', [version + 1]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      }
    }
    // Released with the session too, should this connection die first.
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]);
  } finally {
    await client.end().catch(() => undefined);
  }
}
