/**
 * The runtime's calls to the API (`/v1/runtime/...`, machine token). Bodies come from
 * api/contract.ts, the one contract module of the API the runtime may import.
 */
import {
  ExitReport,
  Heartbeat,
  LogsUpload,
  PresignRequest,
  PresignResponse,
  SnapshotReport,
} from '../api/contract.js';

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

export function httpCallbacks(apiUrl: string, machineToken: string): ApiCallbacks {
  async function post(route: string, body: unknown): Promise<unknown> {
    let res: Response;
    try {
      res = await fetch(`${apiUrl}/v1/runtime/${route}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${machineToken}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(CALL_TIMEOUT_MS),
      });
    } catch (err) {
      throw new CallbackError(`POST /v1/runtime/${route} failed: ${(err as Error).message}`, null);
    }
    if (!res.ok) {
      await res.body?.cancel();
      throw new CallbackError(`POST /v1/runtime/${route} answered ${res.status}`, res.status);
    }
    return res.json().catch(() => ({}));
  }
  return {
    presign: async (body) => PresignResponse.parse(await post('snapshots/presign', PresignRequest.parse(body))),
    reportSnapshot: async (body) => void (await post('snapshots', SnapshotReport.parse(body))),
    heartbeat: async (body) => void (await post('heartbeat', Heartbeat.parse(body))),
    logs: async (body) => void (await post('logs', LogsUpload.parse(body))),
    exit: async (body) => void (await post('exit', ExitReport.parse(body))),
  };
}
