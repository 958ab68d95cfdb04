/**
 * The API's own requests to a session's runtime (`/healthz`, `/logs`, `/snapshot`): node:http,
 * over TCP, through the runtime's Unix socket, or through a cluster node over mutual TLS (its
 * base URL then carries a path: session-runtime/wire/runtime-address.ts), with a deadline and a
 * cap on what is read back — the machine is untrusted. openRuntimeRequest is the one way a
 * request to a runtime is made (the relay's too).
 */
import http from 'node:http';
import https from 'node:https';
import { runtimeUrl, type EndpointTls, type RuntimeEndpoint } from '../../session-runtime/wire/runtime-address.js';
import { keepAliveAgent } from '../node/client.js';
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

export const machineEndpoint = (machine: Machine, nodeTls?: EndpointTls | null): RuntimeEndpoint =>
  machine.runtimeSocket ? { url: machine.runtimeUrl, socketPath: machine.runtimeSocket } : rowEndpoint({ runtime_url: machine.runtimeUrl, runtime_socket: null }, nodeTls)!;

/**
 * Where a session's runtime is reached; null before its machine started. An https runtime URL
 * is a cluster node's (api/node/remote.ts): `nodeTls` is the API's material for it
 * (CATTY_NODE_TLS_DIR, read once at start by the caller).
 */
export function rowEndpoint(row: Pick<SessionRow, 'runtime_url' | 'runtime_socket'>, nodeTls?: EndpointTls | null): RuntimeEndpoint | null {
  if (!row.runtime_url) return null;
  if (row.runtime_socket) return { url: row.runtime_url, socketPath: row.runtime_socket };
  if (nodeTls && row.runtime_url.startsWith('https:')) return { url: row.runtime_url, tls: nodeTls };
  return { url: row.runtime_url };
}

/**
 * A request to `pathAndQuery` (`/upload?cols=80`) of the runtime, under the endpoint's base
 * path, through its socket or its node's mutual TLS. The caller writes the body and handles
 * the answer.
 */
export function openRuntimeRequest(endpoint: RuntimeEndpoint, pathAndQuery: string, options: Pick<http.RequestOptions, 'method' | 'headers'>): http.ClientRequest {
  const url = runtimeUrl(endpoint, pathAndQuery);
  if (url.protocol === 'https:') {
    // Through a cluster node: its kept mutual-TLS connections (a handshake per request costs more).
    return https.request(url, { ...options, ...(endpoint.tls ? { agent: keepAliveAgent(endpoint.tls) } : {}) });
  }
  return http.request(url, { ...options, socketPath: endpoint.socketPath });
}

export function requestRuntime(endpoint: RuntimeEndpoint, path: string, options: RuntimeRequestOptions): Promise<RuntimeAnswer> {
  return new Promise((resolve, reject) => {
    const req = openRuntimeRequest(endpoint, path, { method: options.method ?? 'GET', headers: options.headers });
    req.on('response', (res) => {
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
