import type { ErrorHandler, NotFoundHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { AppEnv } from '../deps.js';
import { HttpError } from '../errors.js';
import type { Logger } from '../logger.js';

/** Known errors answer for themselves; anything else is a 500 with a generic message (and the
 * request id, so an operator can find the logged stack). */
export function errorHandler(options: { logger: Logger }): ErrorHandler<AppEnv> {
  const { logger } = options;
  return function onError(err, c) {
    if (err instanceof HttpError) return c.json({ error: { code: err.code, message: err.message } }, err.status);
    if (err instanceof HTTPException && err.status < 500) {
      return c.json({ error: { code: err.status === 413 ? 'payload_too_large' : 'invalid_request', message: err.message || 'bad request' } }, err.status);
    }
    const requestId = c.get('requestId');
    logger.error({ reqId: requestId, err }, 'unhandled error');
    return c.json({ error: { code: 'internal', message: `internal error (request ${requestId ?? 'unknown'})` } }, 500);
  };
}

export const notFoundHandler: NotFoundHandler<AppEnv> = (c) => c.json({ error: { code: 'not_found', message: `no route for ${c.req.method} ${c.req.path}` } }, 404);
