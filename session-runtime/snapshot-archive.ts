/**
 * Builds a snapshot: a tar.gz of the workspace minus dependency/cache folders (.git kept),
 * written to a private temp file outside the workspace, hashed while it is written. Also a
 * cheap tree fingerprint (paths, sizes, mtimes, modes) so an unchanged workspace is skipped.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { snapshotExcludes } from './wire/ignore-rules.js';

export interface SnapshotFile {
  file: string;
  size: number;
  sha256: string;
  /** How many times the tree was read: more than 1 when it changed under the first reads. */
  reads: number;
  /** Removes the temp file (idempotent). */
  cleanup(): Promise<void>;
}

/** A hash over every kept path's type, size, mtime and mode. Walks without following links. */
export async function treeFingerprint(root: string): Promise<string> {
  const hash = createHash('sha256');
  const walk = async (dirRel: string): Promise<void> => {
    let names: string[];
    try {
      names = (await fsp.readdir(path.join(root, dirRel))).sort();
    } catch {
      return;
    }
    for (const name of names) {
      const rel = dirRel ? `${dirRel}/${name}` : name;
      if (snapshotExcludes(rel)) continue;
      let st: fs.Stats;
      try {
        st = await fsp.lstat(path.join(root, rel));
      } catch {
        continue;
      }
      hash.update(`${rel}\0${st.mode}\0${st.size}\0${st.mtimeMs}\n`);
      if (st.isDirectory()) await walk(rel);
    }
  };
  await walk('');
  return hash.digest('hex');
}

/** How many times a snapshot reads a tree that keeps changing under it before it gives up. */
const SNAPSHOT_READS = 3;

/**
 * Errors that mean a file changed while the archive read it (deleted before its turn, or shorter
 * than its header said): the tree is read again rather than the snapshot lost until the next one.
 */
function changedUnderUs(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR' || code === 'EOF';
}

/**
 * The workspace as a tar.gz, or null when it is empty. An agent may be writing while the tree is
 * read; when that breaks the archive it is read again, up to `maxReads` times.
 */
export async function buildSnapshot(root: string, maxReads = SNAPSHOT_READS): Promise<SnapshotFile | null> {
  for (let reads = 1; ; reads++) {
    try {
      const snap = await archiveOnce(root);
      return snap && { ...snap, reads };
    } catch (err) {
      if (!changedUnderUs(err)) throw err;
      if (reads >= maxReads) {
        const times = reads === 1 ? 'its read' : `each of its ${reads} reads`;
        throw new Error(`files changed under ${times} of the workspace (last: ${(err as Error).message})`, { cause: err });
      }
    }
  }
}

async function archiveOnce(root: string): Promise<Omit<SnapshotFile, 'reads'> | null> {
  const entries = (await fsp.readdir(root)).filter((name) => !snapshotExcludes(name)).sort();
  if (entries.length === 0) return null;
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'catty-snapshot-'));
  const file = path.join(dir, 'snapshot.tar.gz');
  const cleanup = (): Promise<void> => fsp.rm(dir, { recursive: true, force: true });
  try {
    const hash = createHash('sha256');
    let size = 0;
    const meter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        hash.update(chunk);
        size += chunk.length;
        done(null, chunk);
      },
    });
    // Loaded on the first snapshot only: it is ~3 MB of RSS an idle runtime does not need.
    const tar = await import('tar');
    const stream = tar.c(
      {
        cwd: root,
        gzip: { level: 6 },
        portable: true,
        // node-tar reads up to 16 MiB at a time by default: the peak RSS of a snapshot of a
        // tree with large files. 1 MiB reads cost no measurable time.
        maxReadSize: 1024 * 1024,
        filter: (p: string) => !snapshotExcludes(p.replace(/^\.\//, '')),
      },
      entries,
    );
    await pipeline(stream as unknown as NodeJS.ReadableStream, meter, fs.createWriteStream(file, { mode: 0o600 }));
    return { file, size, sha256: hash.digest('hex'), cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
