import type { MiddlewareHandler } from 'hono';
import { bodyLimit as honoBodyLimit } from 'hono/body-limit';
import type { AppEnv } from '../deps.js';

/** Bodies above `maxBytes` get a 413 JSON error before anyone parses them. */
export function bodyLimit(options: { maxBytes: number }): MiddlewareHandler<AppEnv> {
  if (!Number.isInteger(options.maxBytes) || options.maxBytes <= 0) throw new Error('bodyLimit: maxBytes must be a positive integer');
  return honoBodyLimit({
    maxSize: options.maxBytes,
    onError: (c) => c.json({ error: { code: 'payload_too_large', message: `request body exceeds ${options.maxBytes} bytes` } }, 413),
  });
}
