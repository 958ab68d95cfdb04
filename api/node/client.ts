/**
 * The API's side of catty-node's control API: typed calls from the route table
 * (./contract.ts; answers parsed, never cast) and the watch stream. Each call is one HTTP
 * request with a deadline, over a transport: the host's node's Unix socket (a node that is not
 * there rejects at once, ENOENT or ECONNREFUSED, which is how the API learns it must start
 * one), or mutual TLS to a cluster node (./remote.ts).
 */
import http from 'node:http';
import https from 'node:https';
import { ErrorBody } from '../../session-runtime/wire/errors.js';
import type { EndpointTls } from '../../session-runtime/wire/runtime-address.js';
import { WATCH_PATH, WatchEvent, fillId, type NodeRoute, type RequestOf, type ResponseOf } from './contract.js';

const CALL_TIMEOUT_MS = 10_000;

/** The node answered with an error (status and its ErrorBody's message). */
export class NodeCallError extends Error {
  override readonly name = 'NodeCallError';
  constructor(
    readonly status: number,
    readonly code: string | undefined,
    message: string,
  ) {
    super(message);
  }
}

export interface NodeWatch {
  /** Ends the stream (the node sees the API go). */
  close(): void;
}

/** Where a node's requests go: the one thing a Unix-socket client and a TLS client differ in. */
export interface NodeTransport {
  /** For messages: `unix:/path/control.sock` or `https://host:port`. */
  readonly address: string;
  request(options: http.RequestOptions, onResponse?: (res: http.IncomingMessage) => void): http.ClientRequest;
}

export function unixTransport(socketPath: string): NodeTransport {
  return { address: `unix:${socketPath}`, request: (options, onResponse) => http.request({ ...options, socketPath, agent: false }, onResponse) };
}

/** `https://host:port` (any path ignored), the node's certificate checked against `tls.ca` and
 * its name (SAN) against the host; the API's own certificate presented. Connections are kept
 * and reused (keepAliveAgent): a mutual-TLS handshake per call would cost more than the call. */
export function tlsTransport(url: string, tls: EndpointTls): NodeTransport {
  const target = new URL(url);
  if (target.protocol !== 'https:') throw new Error(`a cluster node is reached over https, not ${target.protocol} (${url})`);
  const host = target.hostname.replace(/^\[|\]$/g, '');
  const port = Number(target.port || 443);
  const agent = keepAliveAgent(tls);
  return {
    address: target.origin,
    request: (options, onResponse) => https.request({ ...options, host, port, agent }, onResponse),
  };
}

/** How long a kept connection may sit unused: below the node's keepAliveTimeout (60 s), so the
 * node never closes one just as it is reused. */
export const KEPT_IDLE_MS = 30_000;
const agents = new WeakMap<EndpointTls, https.Agent>();

/** One agent per TLS material (the API holds one for all its nodes): kept connections. */
export function keepAliveAgent(tls: EndpointTls): https.Agent {
  let agent = agents.get(tls);
  if (!agent) {
    agent = new https.Agent({ keepAlive: true, timeout: KEPT_IDLE_MS, ca: tls.ca, cert: tls.cert, key: tls.key });
    agents.set(tls, agent);
  }
  return agent;
}

export interface NodeClient {
  /** Where it goes, for messages (NodeTransport.address). */
  readonly address: string;
  call<R extends NodeRoute>(route: R, input?: { id?: string; body?: RequestOf<R>; timeoutMs?: number }): Promise<ResponseOf<R>>;
  /** Opens the watch stream: `onEvent` for each event, `onEnd` once when it ends for any reason. */
  watch(onEvent: (event: WatchEvent) => void, onEnd: (err?: Error) => void): NodeWatch;
}

/** A client of the node at `target`: a Unix socket's path, or a transport (./remote.ts). */
export function createNodeClient(target: string | NodeTransport): NodeClient {
  const transport = typeof target === 'string' ? unixTransport(target) : target;
  return {
    address: transport.address,
    call(route, input = {}) {
      const path = fillId(route.path, input.id);
      const body = input.body === undefined ? undefined : JSON.stringify(input.body);
      return new Promise((resolve, reject) => {
        const req = transport.request(
          {
            path,
            method: route.method,
            headers: body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
            timeout: input.timeoutMs ?? CALL_TIMEOUT_MS,
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('error', reject);
            res.on('end', () => {
              const status = res.statusCode ?? 0;
              let json: unknown = null;
              try {
                json = JSON.parse(Buffer.concat(chunks).toString('utf8'));
              } catch {
                // not JSON: judged below
              }
              if (status < 200 || status >= 300) {
                const error = ErrorBody.safeParse(json).data?.error;
                return reject(new NodeCallError(status, error?.code, `catty-node: ${route.method} ${route.path} answered ${status}${error ? `: ${error.message}` : ''}`));
              }
              const parsed = route.response.safeParse(json);
              if (!parsed.success) return reject(new NodeCallError(status, undefined, `catty-node: ${route.method} ${route.path} sent an unexpected answer`));
              resolve(parsed.data as ResponseOf<typeof route>);
            });
          },
        );
        req.on('timeout', () => req.destroy(new Error(`catty-node: ${route.method} ${route.path} took longer than ${input.timeoutMs ?? CALL_TIMEOUT_MS} ms`)));
        req.on('error', reject);
        req.end(body);
      });
    },
    watch(onEvent, onEnd) {
      let ended = false;
      const end = (err?: Error): void => {
        if (ended) return;
        ended = true;
        onEnd(err);
      };
      const req = transport.request({ path: WATCH_PATH, method: 'GET' }, (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          return end(new Error(`catty-node: the watch answered ${res.statusCode}`));
        }
        let buffered = '';
        res.setEncoding('utf8');
        res.on('data', (text: string) => {
          buffered += text;
          for (let nl = buffered.indexOf('\n'); nl !== -1; nl = buffered.indexOf('\n')) {
            const line = buffered.slice(0, nl);
            buffered = buffered.slice(nl + 1);
            let parsed: unknown;
            try {
              parsed = JSON.parse(line);
            } catch {
              continue;
            }
            const event = WatchEvent.safeParse(parsed);
            if (event.success) onEvent(event.data);
          }
          if (buffered.length > 64 * 1024) req.destroy(new Error('catty-node: a watch line too long'));
        });
        res.on('end', () => end());
        res.on('error', (err) => end(err));
        res.on('close', () => end());
      });
      req.on('error', (err) => end(err));
      req.end();
      return {
        close() {
          ended = true;
          req.destroy();
        },
      };
    },
  };
}
