/**
 * `catty new`'s upload: walk → zip → streamed (chunked) POST {connectUrl}/upload, with a size
 * cap on the compressed bytes and a progress bar (bytes, rate, ETA) on a TTY.
 */
import http from 'node:http';
import https from 'node:https';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { RuntimePath, UploadResult } from '../../session-runtime/wire/protocol.js';
import { ErrorBody } from '../../session-runtime/wire/errors.js';
import { explainSystemError } from '../errors.js';
import { UserError } from '../../session-runtime/wire/errors.js';
import { escapeForTerminal } from '../../session-runtime/wire/safe-path.js';
import type { ManifestEntry } from '../sessions/store.js';
import type { WalkResult } from './walk.js';
import { capError } from './errors.js';
import { zipFiles } from './zip.js';
import type { Progress } from './progress.js';

export const DEFAULT_MAX_UPLOAD_MB = 100;

export interface UploadOptions {
  connectUrl: string;
  /** The runtime's Unix socket on this machine (the embedded control plane's sessions). */
  socketPath?: string;
  connectToken: string;
  cols: number;
  rows: number;
  maxBytes: number;
  progress?: Progress;
  /** Aborting stops the upload (Ctrl-C during `new`). */
  signal?: AbortSignal;
}

export interface UploadOutcome {
  manifest: Map<string, ManifestEntry>;
  zipBytes: number;
  /** Files that vanished or became unreadable after the walk, left out. */
  skipped: string[];
  result: UploadResult;
}

export async function uploadWorkspace(walk: WalkResult, options: UploadOptions): Promise<UploadOutcome> {
  const job = zipFiles(walk.files, ({ bytesRead }) => options.progress?.update(bytesRead));
  let zipBytes = 0;
  let overCap = false;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, callback) {
      zipBytes += chunk.length;
      if (zipBytes > options.maxBytes) {
        overCap = true;
        callback(new Error('upload size cap exceeded'));
        return;
      }
      callback(null, chunk);
    },
  });
  const url = new URL(`${options.connectUrl.replace(/\/+$/, '')}${RuntimePath.upload}`);
  url.searchParams.set('cols', String(options.cols));
  url.searchParams.set('rows', String(options.rows));
  const request = (url.protocol === 'https:' ? https : http).request(url, {
    method: 'POST',
    socketPath: options.socketPath,
    headers: { authorization: `Bearer ${options.connectToken}`, 'content-type': 'application/zip' },
  });
  const response = new Promise<http.IncomingMessage>((resolve, reject) => {
    request.on('response', resolve);
    request.on('error', reject);
  });
  // The answer's body is read once, here: a refusal is reported from it whether it comes while
  // we are still sending or after (two readers of one stream left the second with nothing, and
  // the user with a bare "HTTP 400" instead of the runtime's reason).
  const answer = response.then(async (res) => ({ status: res.statusCode ?? 0, body: await readBody(res) }));
  answer.catch(() => undefined);
  const onAbort = () => {
    job.abort();
    request.destroy(new Error('upload cancelled'));
  };
  options.signal?.addEventListener('abort', onAbort, { once: true });
  // A non-200 answer while we are still sending is a refusal: stop sending, report it.
  const early = answer.then(({ status, body }) => (status === 200 ? new Promise<never>(() => undefined) : Promise.reject(runtimeRefused(status, body))));
  early.catch(() => undefined);
  try {
    await Promise.race([pipeline(job.stream, counter, request), early]);
  } catch (error) {
    job.abort();
    if (overCap || options.signal?.aborted) request.destroy();
    if (overCap) throw capError(walk, options.maxBytes);
    if (options.signal?.aborted) throw new UserError('Upload cancelled.', { exitCode: 130 });
    if (error instanceof UserError) throw error;
    // Sending failed (EPIPE, ECONNRESET): a refusal answered mid-body (too large, through the
    // API's relay) closes the connection under the request. Its answer, when it came, says why.
    const refusal = await settledWithin(early, REFUSAL_WAIT_MS);
    request.destroy();
    if (refusal instanceof UserError) throw refusal;
    throw uploadFailed(error);
  }
  options.signal?.removeEventListener('abort', onAbort);
  const manifest = await job.manifest;
  const { status, body } = await answer.catch((error: unknown) => {
    throw uploadFailed(error);
  });
  if (status !== 200) throw runtimeRefused(status, body);
  const parsed = UploadResult.safeParse(safeJson(body));
  if (!parsed.success) throw new UserError('The session runtime sent an unexpected answer to the upload.');
  return { manifest, zipBytes, skipped: job.skipped, result: parsed.data };
}

/** How long a failed send waits for the runtime's answer (its reason) before reporting the failure. */
const REFUSAL_WAIT_MS = 2_000;

/** What `promise` rejected with within `ms`, or null (it resolved, or had not settled). */
function settledWithin(promise: Promise<unknown>, ms: number): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), ms)));
  return Promise.race([promise.then(() => null, (error: unknown) => error), timeout]).finally(() => clearTimeout(timer));
}

function runtimeRefused(status: number, body: string): UserError {
  const parsed = ErrorBody.safeParse(safeJson(body));
  const why = parsed.success ? parsed.data.error.message : `HTTP ${status}`;
  return new UserError(`The session refused the upload: ${escapeForTerminal(why)}`);
}

function uploadFailed(error: unknown): UserError {
  const explained = explainSystemError(error);
  return new UserError(`The upload failed: ${explained?.message ?? (error as Error).message}`, { cause: error });
}

/** An answer's body as text, its first 64 KiB (the rest is read and dropped). */
export async function readBody(res: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of res) {
    total += (chunk as Buffer).length;
    if (total <= 64 * 1024) chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}
