/**
 * The runtime's calls to the API (the contract's machine routes, with the machine token),
 * through the API's typed client (api/contract/client.ts) over node:http.
 */
import { createApiClient, RouteError, type Transport } from '../api/contract/client.js';
import { routes, type RequestOf, type ResponseOf } from '../api/contract/routes.js';
import { direct, type Outbound } from './outbound.js';

export class CallbackError extends Error {
  override name = 'CallbackError';
  constructor(
    message: string,
    readonly status: number | null,
  ) {
    super(message);
  }
}

export interface ApiCallbacks {
  presign(body: RequestOf<typeof routes.presign>): Promise<ResponseOf<typeof routes.presign>>;
  reportSnapshot(body: RequestOf<typeof routes.reportSnapshot>): Promise<void>;
  heartbeat(body: RequestOf<typeof routes.heartbeat>): Promise<void>;
  logs(body: RequestOf<typeof routes.uploadLogs>): Promise<void>;
  exit(body: RequestOf<typeof routes.exit>): Promise<void>;
}

const CALL_TIMEOUT_MS = 10_000;
/** Largest callback answer read (they are small JSON objects). */
const MAX_ANSWER_BYTES = 1024 * 1024;

/**
 * One request with node:http(s), not the global fetch: the first fetch loads undici, ~20 MB of
 * resident memory at once, which alone broke the runtime's 100 MB budget (found by the soak;
 * tests/integration/runtime-memory.test.ts).
 */
const nodeTransport = (send: Outbound): Transport => (url, request) =>
  new Promise((resolve, reject) => {
    const target = new URL(url);
    const headers: Record<string, string | number> = { ...request.headers };
    if (request.body !== undefined) headers['content-length'] = Buffer.byteLength(request.body);
    const req = send(target, { method: request.method, headers }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_ANSWER_BYTES) req.destroy(new Error('answer too large'));
        else chunks.push(c);
      });
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, text: async () => text });
      });
      res.on('error', reject);
    });
    req.setTimeout(CALL_TIMEOUT_MS, () => req.destroy(new Error(`timed out after ${CALL_TIMEOUT_MS} ms`)));
    req.on('error', reject);
    req.end(request.body);
  });

/** `send`: the runtime's route out of its machine (outbound.ts). */
export function httpCallbacks(apiUrl: string, machineToken: string, send: Outbound = direct): ApiCallbacks {
  const api = createApiClient({ baseUrl: apiUrl, transport: nodeTransport(send), token: () => machineToken });
  /** Every failure is a CallbackError, with the status when there was an answer. */
  const checked = async <T>(what: string, call: () => Promise<T>): Promise<T> => {
    try {
      return await call();
    } catch (err) {
      if (err instanceof RouteError) throw new CallbackError(`${what} answered ${err.status}`, err.status);
      throw new CallbackError(`${what} failed: ${(err as Error).message}`, null);
    }
  };
  return {
    presign: (body) => checked('presign', () => api.call(routes.presign, { body })),
    reportSnapshot: async (body) => void (await checked('reportSnapshot', () => api.call(routes.reportSnapshot, { body }))),
    heartbeat: async (body) => void (await checked('heartbeat', () => api.call(routes.heartbeat, { body }))),
    logs: async (body) => void (await checked('uploadLogs', () => api.call(routes.uploadLogs, { body }))),
    exit: async (body) => void (await checked('exit', () => api.call(routes.exit, { body }))),
  };
}
