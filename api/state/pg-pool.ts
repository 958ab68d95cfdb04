/**
 * The pg Pool as Kysely sees it, with one change: an error that means "the database server is
 * not there" (refused, timed out, connection lost) becomes the HttpError 503 that every route
 * answers with (db-errors.ts), instead of a 500 — the client is told to retry, and the API keeps
 * running; the pool connects again once the server is back.
 */
import type pg from 'pg';
import type { PostgresPool, PostgresPoolClient } from 'kysely';
import { databaseUnavailable, isDatabaseUnavailable } from './db-errors.js';

function translate(err: unknown): never {
  if (isDatabaseUnavailable(err)) {
    const unavailable = databaseUnavailable();
    (unavailable as { cause?: unknown }).cause = err;
    throw unavailable;
  }
  throw err;
}

export function unavailableAs503(pool: pg.Pool): PostgresPool {
  const wrapped = new WeakMap<object, PostgresPoolClient>();
  const wrap = (client: pg.PoolClient): PostgresPoolClient => {
    let w = wrapped.get(client);
    if (!w) {
      w = {
        query: ((text: string, parameters: unknown[]) => client.query(text, parameters).catch(translate)) as unknown as PostgresPoolClient['query'],
        release: (destroy?: boolean) => client.release(destroy),
      };
      wrapped.set(client, w);
    }
    return w;
  };
  return {
    connect: () => pool.connect().then(wrap, translate),
    end: () => pool.end(),
  };
}
