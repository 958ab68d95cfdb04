import { randomBytes } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import type { Logger } from '../logger.js';
import type { AppEnv } from '../deps.js';

/** Gives each request an id (echoed as X-Request-Id) and logs one line when it ends. */
export function requestId(options: { logger: Logger }): MiddlewareHandler<AppEnv> {
  const { logger } = options;
  return async function requestIdMiddleware(c, next) {
    const id = randomBytes(8).toString('hex');
    c.set('requestId', id);
    const startedNs = process.hrtime.bigint();
    await next();
    c.header('X-Request-Id', id);
    const durationMs = Number(process.hrtime.bigint() - startedNs) / 1e6;
    // Only the path: query strings may carry codes.
    logger.info({ reqId: id, method: c.req.method, path: c.req.path, status: c.res.status, durationMs: Math.round(durationMs * 10) / 10 }, 'request');
  };
}
