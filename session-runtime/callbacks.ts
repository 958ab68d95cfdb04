/**
 * The runtime's calls to the API (`/v1/runtime/...`, machine token). Bodies come from
 * api/contract.ts, the one contract module of the API the runtime may import.
 */
import http from 'node:http';
import https from 'node:https';
import {
  ExitReport,
  Heartbeat,
  LogsUpload,
  PresignRequest,
  PresignResponse,
  SnapshotReport,
} from '../api/contract/schemas.js';

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
  presign(body: PresignRequest): Promise<PresignResponse>;
  reportSnapshot(body: SnapshotReport): Promise<void>;
  heartbeat(body: Heartbeat): Promise<void>;
  logs(body: LogsUpload): Promise<void>;
  exit(body: ExitReport): Promise<void>;
}

const CALL_TIMEOUT_MS = 10_000;
/** Largest callback answer read (they are small JSON objects). */
const MAX_ANSWER_BYTES = 1024 * 1024;

/**
 * One POST with node:http(s), not the global fetch: the first fetch loads undici, ~20 MB of
 * resident memory at once, which alone broke the runtime's 100 MB budget (found by the soak;
 * tests/integration/runtime-memory.test.ts).
 */
function postJson(url: string, token: string, body: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const lib = target.protocol === 'https:' ? https : http;
    const req = lib.request(
      target,
      { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_ANSWER_BYTES) req.destroy(new Error('answer too large'));
          else chunks.push(c);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.setTimeout(CALL_TIMEOUT_MS, () => req.destroy(new Error(`timed out after ${CALL_TIMEOUT_MS} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

export function httpCallbacks(apiUrl: string, machineToken: string): ApiCallbacks {
  async function post(route: string, body: unknown): Promise<unknown> {
    let res: { status: number; text: string };
    try {
      res = await postJson(`${apiUrl}/v1/runtime/${route}`, machineToken, JSON.stringify(body));
    } catch (err) {
      throw new CallbackError(`POST /v1/runtime/${route} failed: ${(err as Error).message}`, null);
    }
    if (res.status < 200 || res.status >= 300) throw new CallbackError(`POST /v1/runtime/${route} answered ${res.status}`, res.status);
    try {
      return JSON.parse(res.text) as unknown;
    } catch {
      return {};
    }
  }
  return {
    presign: async (body) => PresignResponse.parse(await post('snapshots/presign', PresignRequest.parse(body))),
    reportSnapshot: async (body) => void (await post('snapshots', SnapshotReport.parse(body))),
    heartbeat: async (body) => void (await post('heartbeat', Heartbeat.parse(body))),
    logs: async (body) => void (await post('logs', LogsUpload.parse(body))),
    exit: async (body) => void (await post('exit', ExitReport.parse(body))),
  };
}
