/**
 * The API's side of catty-node's control socket: typed calls from the route table
 * (./contract.ts; answers parsed, never cast) and the watch stream. Each call is one HTTP
 * request over the Unix socket with a deadline; a node that is not there rejects at once
 * (ENOENT or ECONNREFUSED), which is how the API learns it must start one.
 */
import http from 'node:http';
import { ErrorBody } from '../../session-runtime/wire/errors.js';
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

export interface NodeClient {
  readonly socketPath: string;
  call<R extends NodeRoute>(route: R, input?: { id?: string; body?: RequestOf<R>; timeoutMs?: number }): Promise<ResponseOf<R>>;
  /** Opens the watch stream: `onEvent` for each event, `onEnd` once when it ends for any reason. */
  watch(onEvent: (event: WatchEvent) => void, onEnd: (err?: Error) => void): NodeWatch;
}

export function createNodeClient(socketPath: string): NodeClient {
  return {
    socketPath,
    call(route, input = {}) {
      const path = fillId(route.path, input.id);
      const body = input.body === undefined ? undefined : JSON.stringify(input.body);
      return new Promise((resolve, reject) => {
        const req = http.request(
          {
            socketPath,
            path,
            method: route.method,
            headers: body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
            timeout: input.timeoutMs ?? CALL_TIMEOUT_MS,
            agent: false,
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
      const req = http.request({ socketPath, path: WATCH_PATH, method: 'GET', agent: false }, (res) => {
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
