/**
 * Periodic snapshots: first after a third of the interval (~10 s), then every interval (30 s),
 * and a final one on stop. A snapshot is skipped when the tree fingerprint equals the last one
 * uploaded, and not uploaded when its archive equals the last one (the fingerprint is taken
 * before the archive reads the tree, so a file written in between makes the next fingerprint
 * differ from a tree the archive already held). Failures retry with exponential backoff inside
 * a bounded budget and otherwise wait for the next tick; they never touch the terminal.
 *
 * With an agent-state directory (Claude Code's transcripts, session-runtime/agent-state.ts) each
 * snapshot also stores that directory as its own object beside the workspace's (presigned as
 * part `agent`, reported with it), so `catty resume` brings the conversation back while
 * `catty download` — which serves only the workspace object — never includes it.
 */
import fs from 'node:fs';
import type { ApiCallbacks } from './callbacks.js';
import { direct, type Outbound } from './outbound.js';
import type { SnapshotResult } from './wire/protocol.js';
import { buildSnapshot, treeFingerprint, type SnapshotFile } from './snapshot-archive.js';
import type { SnapshotReport } from '../api/contract/schemas.js';

export type SnapshotOutcome = SnapshotResult['outcome'];

const MAX_ATTEMPTS = 4;
const FIRST_BACKOFF_MS = 500;

/** Default for CATTY_STORAGE_TIMEOUT_MS: a storage connection silent this long is given up. */
export const DEFAULT_STORAGE_TIMEOUT_MS = 60_000;

/**
 * PUTs a file with its exact Content-Length (S3 refuses chunked bodies on presigned PUTs). A
 * connection with no traffic either way for `idleTimeoutMs` is destroyed: a route that died
 * without a reset would otherwise hold the snapshot chain forever (found by
 * tests/faults/storage.test.ts, black hole case).
 */
export function putFile(url: string, headers: Record<string, string>, file: string, size: number, signal: AbortSignal, idleTimeoutMs = DEFAULT_STORAGE_TIMEOUT_MS, send: Outbound = direct): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = send(new URL(url), { method: 'PUT', headers: { ...headers, 'content-length': String(size) }, signal }, (res) => {
      res.resume();
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) resolve();
        else reject(new Error(`storage answered ${status}`));
      });
    });
    req.on('error', reject);
    req.setTimeout(idleTimeoutMs, () => req.destroy(new Error(`storage silent for ${idleTimeoutMs} ms`)));
    fs.createReadStream(file).on('error', reject).pipe(req);
  });
}

export class Snapshotter {
  #lastFingerprint: string | null = null;
  #lastSha256: string | null = null;
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<SnapshotOutcome> | null = null;
  #stopped = false;
  readonly #abort = new AbortController();
  /** Counters for tests and logs. */
  readonly stats = { uploaded: 0, unchanged: 0, failed: 0 };

  constructor(
    private readonly root: string,
    private readonly api: ApiCallbacks,
    private readonly intervalMs: number,
    private readonly log: (line: string) => void = () => undefined,
    private readonly storageTimeoutMs = DEFAULT_STORAGE_TIMEOUT_MS,
    /** The runtime's route out of its machine (outbound.ts). */
    private readonly send: Outbound = direct,
    /** The agent's own state kept beside each snapshot; null: none. */
    private readonly agentStateRoot: string | null = null,
  ) {}

  /** Starts the schedule (call once the workspace is in place). */
  start(): void {
    if (this.#timer || this.#stopped) return;
    const tick = (delayMs: number): void => {
      this.#timer = setTimeout(() => {
        void this.snapshotNow().finally(() => {
          if (!this.#stopped) tick(this.intervalMs);
        });
      }, delayMs);
      this.#timer.unref();
    };
    tick(Math.max(1, Math.round(this.intervalMs / 3)));
  }

  /** One snapshot, serialised with any running one. */
  snapshotNow(): Promise<SnapshotOutcome> {
    const previous = this.#running ?? Promise.resolve('unchanged' as SnapshotOutcome);
    const next = previous.then(() => this.#once());
    this.#running = next;
    return next;
  }

  /** Stops the schedule and takes the final snapshot within `budgetMs`. */
  async final(budgetMs: number): Promise<SnapshotOutcome> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    const timeout = setTimeout(() => this.#abort.abort(), budgetMs);
    try {
      return await this.snapshotNow();
    } finally {
      clearTimeout(timeout);
    }
  }

  async #once(): Promise<SnapshotOutcome> {
    if (this.#abort.signal.aborted) return 'failed';
    const fingerprint = (await treeFingerprint(this.root)) + (this.agentStateRoot ? await treeFingerprint(this.agentStateRoot) : '');
    if (fingerprint === this.#lastFingerprint) {
      this.stats.unchanged += 1;
      return 'unchanged';
    }
    let snap: SnapshotFile | null = null;
    let agent: SnapshotFile | null = null;
    try {
      const startedMs = performance.now();
      snap = await buildSnapshot(this.root);
      if (!snap) return 'empty';
      // No agent state yet (not Claude Code, or no conversation): no part.
      agent = this.agentStateRoot && fs.existsSync(this.agentStateRoot) ? await buildSnapshot(this.agentStateRoot) : null;
      const combined = snap.sha256 + (agent?.sha256 ?? '');
      if (combined === this.#lastSha256) {
        this.#lastFingerprint = fingerprint;
        this.stats.unchanged += 1;
        return 'unchanged';
      }
      const archivedMs = performance.now();
      await this.#uploadWithRetry(snap, agent);
      this.#lastFingerprint = fingerprint;
      this.#lastSha256 = combined;
      this.stats.uploaded += 1;
      const doneMs = performance.now();
      this.log(`snapshot uploaded: ${snap.size} bytes, archived in ${Math.round(archivedMs - startedMs)} ms${snap.reads > 1 ? ` (${snap.reads} reads: files changed under the first)` : ''}, stored in ${Math.round(doneMs - archivedMs)} ms`);
      return 'uploaded';
    } catch (err) {
      this.stats.failed += 1;
      this.log(`snapshot failed: ${(err as Error).message}`);
      return 'failed';
    } finally {
      await snap?.cleanup();
      await agent?.cleanup();
    }
  }

  /** Presigns and PUTs one archive; its part of the report. */
  async #store(file: SnapshotFile, part: 'workspace' | 'agent'): Promise<{ key: string; size: number; sha256: string }> {
    const { key, url, headers } = await this.api.presign(part === 'agent' ? { size: file.size, part } : { size: file.size });
    await putFile(url, headers, file.file, file.size, this.#abort.signal, this.storageTimeoutMs, this.send);
    return { key, size: file.size, sha256: file.sha256 };
  }

  async #uploadWithRetry(snap: SnapshotFile, agent: SnapshotFile | null): Promise<void> {
    let delayMs = FIRST_BACKOFF_MS;
    for (let attempt = 1; ; attempt++) {
      try {
        const report: SnapshotReport = await this.#store(snap, 'workspace');
        if (agent) report.agent = await this.#store(agent, 'agent');
        await this.api.reportSnapshot(report);
        return;
      } catch (err) {
        if (attempt >= MAX_ATTEMPTS || this.#abort.signal.aborted) throw err;
        this.log(`snapshot attempt ${attempt} failed (${(err as Error).message}); retrying in ${delayMs} ms`);
        await new Promise((resolve) => setTimeout(resolve, delayMs));
        delayMs *= 2;
      }
    }
  }
}
