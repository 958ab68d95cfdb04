/**
 * The CLI's HTTP client: node:http and node:https behind the few calls the CLI makes (JSON to
 * the API, one streamed download).
 *
 * Not `fetch`: a process's first fetch loads undici, and every catty command talks to the API
 * once or twice and exits. Measured here on loopback: first fetch ~30 ms, first http.get ~3 ms.
 *
 * Errors keep Node's shape (`code` such as ECONNREFUSED, as errors.ts explains them); a request
 * ended by its signal rejects with the signal's reason (AbortSignal.timeout: a TimeoutError).
 */
import http from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';

export interface HttpRequest {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  signal?: AbortSignal;
}

export interface HttpResponse {
  readonly status: number;
  readonly ok: boolean;
  /** The whole body as text; rejects if the signal ends the request while it is read. */
  text(): Promise<string>;
  /** The body parsed as JSON; rejects on a body that is not JSON. */
  json(): Promise<unknown>;
  /** The body as a stream, for what is too large to hold (read it, or `discard`). */
  readonly body: Readable;
  /** Drops the body unread (the connection can be reused). */
  discard(): void;
}

export type Http = (url: string, request?: HttpRequest) => Promise<HttpResponse>;

export const nodeHttp: Http = (url, request = {}) =>
  new Promise((resolve, reject) => {
    const target = new URL(url);
    const client = target.protocol === 'https:' ? https : target.protocol === 'http:' ? http : null;
    if (!client) return reject(new Error(`unsupported URL scheme ${target.protocol} in ${url}`));
    const { signal } = request;
    if (signal?.aborted) return reject(signal.reason);
    const headers: Record<string, string> = { ...request.headers };
    if (request.body !== undefined) headers['content-length'] = String(Buffer.byteLength(request.body));
    const req = client.request(target, { method: request.method ?? 'GET', headers, signal }, (res) => resolve(wrap(res, signal)));
    req.on('error', (error) => reject(signal?.aborted ? signal.reason : error));
    req.end(request.body);
  });

function wrap(res: http.IncomingMessage, signal: AbortSignal | undefined): HttpResponse {
  const status = res.statusCode ?? 0;
  const text = (): Promise<string> =>
    new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      // A connection cut mid-body is an error here too ('aborted', ECONNRESET).
      res.once('error', (error) => reject(signal?.aborted ? signal.reason : error));
    });
  return {
    status,
    ok: status >= 200 && status < 300,
    text,
    json: async () => JSON.parse(await text()) as unknown,
    body: res,
    discard: () => void res.resume(),
  };
}
