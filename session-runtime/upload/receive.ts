/**
 * POST /upload: spools the raw zip body to a private temp file outside the workspace (a zip is
 * read from its central directory at the end, so it cannot be extracted while streaming),
 * validates every entry, then extracts. The temp file is always removed.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { extractPlan, type ExtractResult } from './extract.js';
import { DEFAULT_ZIP_LIMITS, UploadRejected, openZip, planZip } from './zip-plan.js';

export interface UploadLimits {
  /** Cap on the request body and on the total uncompressed bytes. */
  maxBytes: number;
}

async function spool(req: IncomingMessage, file: string, maxBodyBytes: number): Promise<void> {
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
  const done = pipeline(cap, fs.createWriteStream(file, { flags: 'wx', mode: 0o600 }));
  const onError = (err: Error): void => void cap.destroy(err);
  const onClose = (): void => {
    if (!req.complete) cap.destroy(new Error('the request was aborted'));
  };
  req.on('error', onError);
  req.on('close', onClose);
  req.pipe(cap);
  try {
    await done;
  } finally {
    req.unpipe(cap);
    req.off('error', onError);
    req.off('close', onClose);
  }
}

export async function receiveUpload(req: IncomingMessage, workspace: string, limits: UploadLimits): Promise<ExtractResult> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'catty-upload-'));
  const file = path.join(dir, 'upload.zip');
  try {
    try {
      await spool(req, file, limits.maxBytes);
    } catch (err) {
      if (err instanceof UploadRejected) throw err;
      throw new UploadRejected('upload_interrupted', `The upload body could not be read: ${(err as Error).message}`);
    }
    const zip = await openZip(file);
    try {
      const plan = await planZip(zip, { ...DEFAULT_ZIP_LIMITS, maxTotalBytes: limits.maxBytes });
      return await extractPlan(zip, file, plan, workspace);
    } finally {
      zip.close();
    }
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
}
