/**
 * The API's own requests to a session's runtime (`/healthz`, `/logs`, `/snapshot`): node:http,
 * over TCP or through the runtime's Unix socket (session-runtime/wire/runtime-address.ts), with
 * a deadline and a cap on what is read back — the machine is untrusted.
 */
import http from 'node:http';
import https from 'node:https';
import type { RuntimeEndpoint } from '../../session-runtime/wire/runtime-address.js';
import type { Machine } from '../provisioners/types.js';
import type { SessionRow } from '../state/sessions.js';

export interface RuntimeAnswer {
  status: number;
  body: Buffer;
}

export interface RuntimeRequestOptions {
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  timeoutMs: number;
  /** A longer answer fails the request. */
  maxBytes: number;
  /** A request body (sent with the headers given, which should say its length). */
  body?: NodeJS.ReadableStream;
}

export const machineEndpoint = (machine: Machine): RuntimeEndpoint =>
  machine.runtimeSocket ? { url: machine.runtimeUrl, socketPath: machine.runtimeSocket } : { url: machine.runtimeUrl };

/** Where a session's runtime is reached; null before its machine started. */
export function rowEndpoint(row: Pick<SessionRow, 'runtime_url' | 'runtime_socket'>): RuntimeEndpoint | null {
  if (!row.runtime_url) return null;
  return row.runtime_socket ? { url: row.runtime_url, socketPath: row.runtime_socket } : { url: row.runtime_url };
}

export function requestRuntime(endpoint: RuntimeEndpoint, path: string, options: RuntimeRequestOptions): Promise<RuntimeAnswer> {
  return new Promise((resolve, reject) => {
    const url = new URL(path, endpoint.url);
    const lib = url.protocol === 'https:' ? https : http;
    const req = lib.request(url, { method: options.method ?? 'GET', headers: options.headers, socketPath: endpoint.socketPath }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > options.maxBytes) req.destroy(new Error(`the runtime's answer to ${path} exceeds ${options.maxBytes} bytes`));
        else chunks.push(chunk);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    // A deadline for the whole exchange, not an idle timeout: a runtime trickling its answer
    // must not hold the request open.
    const timer = setTimeout(() => req.destroy(new Error(`the runtime did not answer ${path} within ${options.timeoutMs} ms`)), options.timeoutMs);
    req.on('close', () => clearTimeout(timer));
    req.on('error', reject);
    if (options.body) options.body.on('error', (err: Error) => req.destroy(err)).pipe(req);
    else req.end();
  });
}
