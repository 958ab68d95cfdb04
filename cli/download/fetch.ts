/** Streams a presigned URL to a temp file, hashing as it goes, never past the announced size. */
import crypto from 'node:crypto';
import fs from 'node:fs';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Context } from '../context.js';
import { explainSystemError } from '../errors.js';
import { UserError } from '../../session-runtime/wire/errors.js';
import type { HttpResponse } from '../http.js';
import type { Progress } from '../packer/progress.js';

export async function fetchToFile(ctx: Context, url: string, file: string, expected: { size: number; sha256: string }, progress: Progress): Promise<void> {
  let response: HttpResponse;
  try {
    response = await ctx.http(url, { signal: AbortSignal.timeout(30 * 60_000) });
  } catch (error) {
    throw explainSystemError(error) ?? new UserError(`The download failed: ${(error as Error).message}`);
  }
  if (!response.ok) {
    response.discard();
    const why = response.status === 403 ? 'the link was refused (it may have expired or been tampered with)' : `HTTP ${response.status}`;
    throw new UserError(`Storage refused the download: ${why}.`, { hint: 'Run the download again for a fresh link.' });
  }
  const hash = crypto.createHash('sha256');
  let received = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _enc, callback) {
      received += chunk.length;
      if (received > expected.size) return callback(new UserError(`The download is larger than the recorded snapshot (${expected.size} bytes).`));
      hash.update(chunk);
      progress.update(received);
      callback(null, chunk);
    },
  });
  await pipeline(response.body, meter, fs.createWriteStream(file, { flags: 'wx', mode: 0o600 }));
  if (received !== expected.size) throw new UserError(`The download is truncated (${received} of ${expected.size} bytes).`);
  if (hash.digest('hex') !== expected.sha256) {
    throw new UserError('The download does not match the recorded snapshot (sha256 mismatch).', { hint: 'Nothing was extracted. Try again; if it persists, the stored snapshot is damaged.' });
  }
}
