/**
 * A resumed or forked session's workspace: the snapshot tar.gz its API sends to `POST /upload`
 * (Content-Type SNAPSHOT_MEDIA_TYPE). The API checked the archive's sha256 against the one the
 * old machine reported, but the old machine made the archive, so it is hostile input here as
 * much as a zip is (security README case 59): the body is capped and spooled to a private temp
 * file, then read entry by entry with node-tar's parser only (never its extractor) and written
 * through the upload's WorkspaceWriter — every name checked like a zip entry's, directories
 * made one level at a time and never through a link, files created exclusively (a repeated
 * name is refused), regular files and directories, and symlinks whose target stays inside the
 * workspace made only after every file (so nothing is ever written through one; an entry under
 * a link refuses the snapshot) — other links, hard links and devices are skipped and counted —
 * the entry count and the uncompressed total capped. Accepted or refused whole: a refusal
 * removes everything written.
 *
 * A snapshot with the agent's state (its conversations: Claude Code's transcripts, Codex's
 * rollouts, Gemini CLI's chats) carries it as a second archive at the end of the body (its length
 * in AGENT_STATE_BYTES_HEADER), restored the same way into that agent's state directory only.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { BaseRecorder, FileRecording } from './files/base.js';
import type { UploadLimits, UploadReport } from './upload/receive.js';
import { WorkspaceWriter, writeAll } from './upload/workspace-writer.js';
import { DEFAULT_ZIP_LIMITS, UploadRejected, checkEntryName } from './upload/zip-plan.js';
import { AGENT_STATE_BYTES_HEADER } from './wire/restore.js';
import { resolveInside } from './wire/safe-path.js';

export interface RestoreReport extends UploadReport {
  /** Entries not written: symlinks, hard links, devices (a workspace holds files and directories). */
  skipped: number;
}

export interface RestoreLimits extends UploadLimits {
  /** Where the agent state part (AGENT_STATE_BYTES_HEADER) goes: its agent's state directory
   * (AgentDefinition.stateDir) under its home; absent: the part is not restored. */
  agentStateDir?: string;
}

/** The agent part's length from its header: null when absent; refused when not a length within the body. */
function agentPartBytes(req: IncomingMessage, bodyBytes: number): number | null {
  const raw = req.headers[AGENT_STATE_BYTES_HEADER];
  if (raw === undefined) return null;
  if (typeof raw !== 'string' || !/^\d{1,15}$/.test(raw) || Number(raw) >= bodyBytes) throw new UploadRejected('invalid_request', `${AGENT_STATE_BYTES_HEADER} must be a length shorter than the body`);
  return Number(raw);
}

export async function receiveSnapshot(req: IncomingMessage, workspace: string, limits: RestoreLimits): Promise<RestoreReport> {
  const startedMs = performance.now();
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'catty-restore-'));
  const file = path.join(dir, 'snapshot.tar.gz');
  try {
    await spoolCapped(req, file, limits.maxBytes);
    const receivedMs = performance.now() - startedMs;
    const bodyBytes = (await fsp.stat(file)).size;
    const agentBytes = agentPartBytes(req, bodyBytes);
    const workspaceEnd = bodyBytes - (agentBytes ?? 0);
    const writer = new WorkspaceWriter(workspace);
    const agentRoot = agentBytes && limits.agentStateDir ? limits.agentStateDir : null;
    const agentWriter = agentRoot ? new WorkspaceWriter(agentRoot) : null;
    try {
      const result = await restoreArchive({ file, start: 0, end: workspaceEnd }, workspace, writer, limits.maxBytes, limits.base);
      if (agentRoot && agentWriter) {
        await fsp.mkdir(agentRoot, { recursive: true, mode: 0o700 });
        const agent = await restoreArchive({ file, start: workspaceEnd, end: bodyBytes }, agentRoot, agentWriter, limits.maxBytes);
        result.skipped += agent.skipped;
      }
      return { ...result, receivedMs, extractedMs: performance.now() - startedMs - receivedMs, fallbackReason: null };
    } catch (err) {
      await writer.rollback();
      await agentWriter?.rollback();
      if (err instanceof UploadRejected) throw err;
      throw new UploadRejected('corrupt_snapshot', `The snapshot could not be read: ${(err as Error).message}`);
    }
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
}

async function spoolCapped(req: IncomingMessage, file: string, maxBytes: number): Promise<void> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) throw new UploadRejected('too_large', `The snapshot is larger than ${maxBytes} bytes`, 413);
  let seen = 0;
  const cap = new Transform({
    transform(chunk: Buffer, _enc, done) {
      seen += chunk.length;
      if (seen > maxBytes) return done(new UploadRejected('too_large', `The snapshot is larger than ${maxBytes} bytes`, 413));
      done(null, chunk);
    },
  });
  try {
    await pipeline(req, cap, fs.createWriteStream(file, { flags: 'wx', mode: 0o600 }));
  } catch (err) {
    if (err instanceof UploadRejected) throw err;
    throw new UploadRejected('upload_interrupted', `The snapshot body could not be read: ${(err as Error).message}`);
  }
}

/** Entry types written as files; symlinks are made last; anything else (hard links, devices, fifos) is skipped. */
const FILE_TYPES = new Set(['File', 'OldFile', 'ContiguousFile']);

interface Link {
  rel: string;
  target: string;
}

/** Whether a link at `rel` to `target` names a place inside the workspace (read as written, not followed). */
function staysInside(workspace: string, rel: string, target: string): boolean {
  if (target === '' || path.isAbsolute(target) || target.includes('\0')) return false;
  return resolveInside(workspace, path.posix.join(path.posix.dirname(rel), target)) !== null;
}

/** Whether one of `rel`'s parents is a link named earlier in the archive. */
function underLink(rel: string, linkNames: Set<string>): boolean {
  for (let slash = rel.indexOf('/'); slash !== -1; slash = rel.indexOf('/', slash + 1)) {
    if (linkNames.has(rel.slice(0, slash))) return true;
  }
  return false;
}

/** Makes the links (after every file and directory); on a failure removes the ones it made. */
function makeLinks(workspace: string, writer: WorkspaceWriter, links: Link[], base: BaseRecorder | undefined): number {
  const made: string[] = [];
  let skipped = 0;
  try {
    for (const link of links) {
      if (!staysInside(workspace, link.rel, link.target)) {
        skipped += 1;
        continue;
      }
      // Its parents are real directories (prepareFile refuses a link among them).
      const abs = writer.prepareFile(link.rel);
      fs.symlinkSync(link.target, abs);
      made.push(abs);
      base?.link(link.rel, link.target);
    }
  } catch (err) {
    for (const abs of made) fs.rmSync(abs, { force: true });
    throw err;
  }
  return skipped;
}

/** Bytes [start, end) of a file. */
interface Range {
  file: string;
  start: number;
  end: number;
}

/** `base`: records each file and link for the Files view (files/base.ts). */
async function restoreArchive(range: Range, workspace: string, writer: WorkspaceWriter, maxTotalBytes: number, base?: BaseRecorder): Promise<Omit<UploadReport, 'receivedMs' | 'extractedMs' | 'fallbackReason'> & { skipped: number }> {
  const tar = await import('tar');
  const paths: string[] = [];
  let entries = 0;
  let bytes = 0;
  let skipped = 0;
  const links: Link[] = [];
  const linkNames = new Set<string>();
  /** Every directory an entry so far is under: a link named like one refuses the snapshot. */
  const parents = new Set<string>();
  let failure: Error | null = null;
  let openFd: number | null = null;
  // A refusal stops the read at once: a bomb is not inflated to its end.
  const abort = new AbortController();
  const fail = (err: unknown): void => {
    failure ??= err as Error;
    abort.abort();
  };
  const closeOpen = (): void => {
    if (openFd !== null) fs.closeSync(openFd);
    openFd = null;
  };
  const parser = new tar.Parser({
    strict: true,
    onReadEntry: (entry) => {
      if (failure) return void entry.resume();
      try {
        entries += 1;
        if (entries > DEFAULT_ZIP_LIMITS.maxEntries) throw new UploadRejected('too_many_entries', `The snapshot has more than ${DEFAULT_ZIP_LIMITS.maxEntries} entries`);
        const rel = checkEntryName(entry.path, DEFAULT_ZIP_LIMITS);
        if (underLink(rel, linkNames)) throw new UploadRejected('unsafe_path', `"${rel.slice(0, 200)}" is under a symlink`);
        if (entry.type === 'SymbolicLink' && parents.has(rel)) throw new UploadRejected('unsafe_path', `the symlink "${rel.slice(0, 200)}" is over a directory`);
        for (let slash = rel.indexOf('/'); slash !== -1; slash = rel.indexOf('/', slash + 1)) parents.add(rel.slice(0, slash));
        if (entry.type === 'Directory') {
          writer.ensureDir(rel);
          return void entry.resume();
        }
        if (entry.type === 'SymbolicLink') {
          links.push({ rel, target: entry.linkpath ?? '' });
          linkNames.add(rel);
          return void entry.resume();
        }
        if (!FILE_TYPES.has(entry.type)) {
          skipped += 1;
          return void entry.resume();
        }
        const executable = ((entry.mode ?? 0) & 0o100) !== 0;
        const fd = writer.create(writer.prepareFile(rel), executable ? 0o755 : 0o644);
        openFd = fd;
        paths.push(rel);
        const recording: FileRecording | undefined = base?.begin(rel, entry.size);
        entry.on('data', (chunk: Buffer) => {
          if (failure) return;
          bytes += chunk.length;
          try {
            if (bytes > maxTotalBytes) throw new UploadRejected('too_large', `The snapshot holds more than ${maxTotalBytes} bytes`, 413);
            writeAll(fd, chunk);
            recording?.update(chunk);
          } catch (err) {
            fail(err);
          }
        });
        entry.on('end', () => {
          closeOpen();
          if (!failure) recording?.end();
        });
      } catch (err) {
        fail(err);
        entry.resume();
      }
    },
  });
  try {
    if (range.end <= range.start) throw new UploadRejected('corrupt_snapshot', 'The snapshot is empty');
    await pipeline(fs.createReadStream(range.file, { start: range.start, end: range.end - 1 }), parser as unknown as NodeJS.WritableStream, { signal: abort.signal });
  } catch (err) {
    if (!failure) throw err;
  } finally {
    closeOpen();
  }
  if (failure) throw failure;
  skipped += makeLinks(workspace, writer, links, base);
  return { files: paths.length, bytes, paths, skipped };
}
