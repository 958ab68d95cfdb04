/**
 * For the Files view's tests (issue 24): a workspace extracted the way the runtime extracts an
 * upload (the CLI's own zip writer, the runtime's StreamExtractor or its ordinary path) with its
 * base recorded in a real BaseStore.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { walkWorkspace } from '../../cli/packer/walk.js';
import { zipFiles } from '../../cli/packer/zip.js';
import { BaseStore, type BaseLimits } from '../../session-runtime/files/base.js';
import { extractPlan } from '../../session-runtime/upload/extract.js';
import { StreamExtractor } from '../../session-runtime/upload/stream-extract.js';
import { DEFAULT_ZIP_LIMITS, openZip, planZip } from '../../session-runtime/upload/zip-plan.js';
import { tempDir } from './temp-dir.js';
import { elapse } from './wait.js';

export const sha256 = (data: Buffer | string): string => crypto.createHash('sha256').update(data).digest('hex');

/** Writes `files` (path → content) under `root`. */
export function writeTree(root: string, files: Record<string, string | Buffer>): void {
  for (const [rel, data] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), data);
  }
}

/** The CLI's zip of `root` (its walker and writer, as `catty new` sends it). */
export async function cliZip(root: string): Promise<Buffer> {
  const walk = await walkWorkspace(root, { ignoreGit: true });
  const chunks: Buffer[] = [];
  for await (const chunk of zipFiles(walk.files).stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export interface Uploaded {
  workspace: string;
  store: BaseStore;
  /** The store's private temp directory's parent (where its pack goes). */
  storeParent: string;
}

/**
 * `files` zipped by the CLI's writer and extracted into a fresh workspace by the runtime's fast
 * path (or, with `ordinary`, its ordinary path from the spooled zip), the base recorded.
 * `commitAfterMs`: the base is complete that long after the files were written.
 */
export async function uploadTree(files: Record<string, string | Buffer>, options: { limits?: BaseLimits; ordinary?: boolean; commitAfterMs?: number } = {}): Promise<Uploaded> {
  const src = tempDir('files-src');
  writeTree(src, files);
  const zip = await cliZip(src);
  const workspace = tempDir('files-ws');
  const storeParent = tempDir('files-store');
  const store = new BaseStore(storeParent, options.limits);
  const limits = { ...DEFAULT_ZIP_LIMITS, maxTotalBytes: 1024 ** 3 };
  const recorder = store.record('upload');
  if (options.ordinary) {
    const file = path.join(storeParent, 'upload.zip');
    fs.writeFileSync(file, zip);
    const opened = await openZip(file);
    try {
      await extractPlan(opened, file, await planZip(opened, limits), workspace, recorder);
    } finally {
      opened.close();
      fs.rmSync(file);
    }
  } else {
    const extractor = new StreamExtractor(workspace, limits, recorder);
    await pipeline(Readable.from([zip]), extractor);
    const outcome = await extractor.outcome;
    if (!outcome.ok) throw new Error(`the fast path gave up: ${outcome.reason}`);
  }
  // Files written this long before the base is complete are out of the ctime's slack.
  if (options.commitAfterMs) await elapse(options.commitAfterMs);
  recorder.commit();
  return { workspace, store, storeParent };
}
