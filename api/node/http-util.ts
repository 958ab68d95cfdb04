/**
 * The small HTTP pieces catty-node's server and its machine routes share: an error that is an
 * answer (status, code, message), reading a JSON body under a cap, checking it against its
 * route's schema, and replying. Nothing here trusts what it reads.
 */
import type http from 'node:http';
import type { ErrorBody } from '../../session-runtime/wire/errors.js';
import type * as z from '../../session-runtime/wire/zod.js';
import { MAX_BODY_BYTES } from './contract.js';

/** Thrown by a handler: answered with its status and an ErrorBody (never a 500). */
export class NodeError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export function pathOf(req: http.IncomingMessage): string {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

export function safeDecode(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

export function reply(res: http.ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return void res.destroy();
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export function replyError(res: http.ServerResponse, err: NodeError): void {
  reply(res, err.status, { error: { code: err.code, message: err.message } } satisfies ErrorBody);
}

/** The body as JSON: at most MAX_BODY_BYTES (413), JSON (400). */
export function readJson(req: http.IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > MAX_BODY_BYTES) {
      req.resume();
      return reject(new NodeError(413, 'too_large', `the body is larger than ${MAX_BODY_BYTES} bytes`));
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        req.destroy();
        reject(new NodeError(413, 'too_large', `the body is larger than ${MAX_BODY_BYTES} bytes`));
      } else chunks.push(chunk);
    });
    req.on('error', reject);
    req.on('end', () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch {
        reject(new NodeError(400, 'invalid_request', 'the body is not JSON'));
      }
    });
  });
}

/** Checked against the route's schema; the message names the fields, never their values. */
export function validate(schema: z.ZodMiniType, body: unknown): unknown {
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  const where = parsed.error.issues.slice(0, 5).map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`);
  throw new NodeError(400, 'invalid_request', `invalid body: ${where.join('; ')}`);
}
