/**
 * POST /upload. The body is spooled to a private temp file outside the workspace and, at the
 * same time, extracted as it arrives (stream-extract.ts) — the fast path, which overlaps the
 * machine's file creation with the CLI's zipping and sending. When the fast path gives up (an
 * archive it cannot stream, or any doubt about one), what it created is removed and the spooled
 * zip is read the ordinary way: whole central directory validated before anything is written,
 * then extracted. Either way the upload is accepted or refused whole. The temp file is always
 * removed.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { finished, pipeline } from 'node:stream/promises';
import { Transform, type Writable } from 'node:stream';
import type { BaseRecorder } from '../files/base.js';
import { extractPlan, type ExtractResult } from './extract.js';
import { StreamExtractor } from './stream-extract.js';
import { DEFAULT_ZIP_LIMITS, UploadRejected, openZip, planZip } from './zip-plan.js';

export interface UploadLimits {
  /** Cap on the request body and on the total uncompressed bytes. */
  maxBytes: number;
  /** Records the files extracted as the Files view's base (files/base.ts); absent: none. */
  base?: BaseRecorder;
}

export interface UploadReport extends ExtractResult {
  /** Until the whole body was received (and, on the fast path, extracted). */
  receivedMs: number;
  /** Extraction after the body was received: 0 on the fast path. */
  extractedMs: number;
  /** Why the fast path gave up, or null when it extracted the upload. */
  fallbackReason: string | null;
}

/** Copies the body into `file` and `extractor` (backpressure from both), with the size cap. */
async function spool(req: IncomingMessage, file: string, extractor: Writable, maxBodyBytes: number): Promise<void> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBodyBytes) {
    throw new UploadRejected('too_large', `The upload is larger than ${maxBodyBytes} bytes`, 413);
  }
  let seen = 0;
  const cap = new Transform({
    transform(chunk: Buffer, _enc, done) {
      seen += chunk.length;
      if (seen > maxBodyBytes) return done(new UploadRejected('too_large', `The upload is larger than ${maxBodyBytes} bytes`, 413));
      done(null, chunk);
    },
  });
  // Not pipeline(req, ...): on a refusal it would destroy the request (and the socket) before
  // the answer is sent. The caller discards the rest of the body instead.
  const spooled = pipeline(cap, fs.createWriteStream(file, { flags: 'wx', mode: 0o600 }));
  cap.pipe(extractor);
  const extracted = finished(extractor);
  extracted.catch(() => undefined);
  const onError = (err: Error): void => void cap.destroy(err);
  const onClose = (): void => {
    if (!req.complete) cap.destroy(new Error('the request was aborted'));
  };
  req.on('error', onError);
  req.on('close', onClose);
  req.pipe(cap);
  try {
    await spooled;
    await extracted;
  } finally {
    req.unpipe(cap);
    req.off('error', onError);
    req.off('close', onClose);
  }
}

export async function receiveUpload(req: IncomingMessage, workspace: string, limits: UploadLimits): Promise<UploadReport> {
  const startedMs = performance.now();
  const zipLimits = { ...DEFAULT_ZIP_LIMITS, maxTotalBytes: limits.maxBytes };
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'catty-upload-'));
  const file = path.join(dir, 'upload.zip');
  const extractor = new StreamExtractor(workspace, zipLimits, limits.base);
  try {
    try {
      await spool(req, file, extractor, limits.maxBytes);
    } catch (err) {
      extractor.destroy();
      await extractor.rollback();
      if (err instanceof UploadRejected) throw err;
      throw new UploadRejected('upload_interrupted', `The upload body could not be read: ${(err as Error).message}`);
    }
    const receivedMs = performance.now() - startedMs;
    const fast = await extractor.outcome;
    if (fast.ok) return { ...fast.result, receivedMs, extractedMs: 0, fallbackReason: null };
    await extractor.rollback();
    limits.base?.reset();
    const zip = await openZip(file);
    try {
      const plan = await planZip(zip, zipLimits);
      const result = await extractPlan(zip, file, plan, workspace, limits.base);
      return { ...result, receivedMs, extractedMs: performance.now() - startedMs - receivedMs, fallbackReason: fast.reason };
    } finally {
      zip.close();
    }
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
}
