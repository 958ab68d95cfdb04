/**
 * The local provisioner's spare machine: one sandboxed machine started ahead in
 * `machines/spare-<id>/`, so the next start skips bubblewrap's and Node's start. Its launcher
 * waits on a stdin pipe for the session's settings (the one pipe kept to the API, until then; it
 * exits when that closes empty). A start renames its directory to the session's — bwrap bound
 * the directories by inode — and hands the settings over (local.ts).
 *
 * The egress directory is the session's (the API listens in it before the machine starts), yet a
 * spare must have one bound when it starts, before any session exists; nor can it be shown the
 * API's whole egress directory (every session's socket). So a spare binds an empty directory of
 * its own, and a start makes that directory the session's (adoptEgressDir).
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { LAUNCHER_WAITING_LINE } from '../../session-runtime/wire/runtime-env.js';
import type { Logger } from '../logger.js';
import { isRunning } from './processes.js';
import type { MachineSpec, SharedMachineSettings } from './types.js';

/** A machine started ahead: its launcher waits on stdin for the session's settings. */
interface Spare {
  dir: string;
  child: ChildProcess;
  /** The settings it was started with; a spec that differs gets a fresh machine. */
  key: string;
}

export interface SpareMachineOptions {
  machinesDir: string;
  logger: Logger;
  /** Off: no spare is ever started (stale ones are still removed). */
  enabled: boolean;
  /** Creates a machine's directories in `dir` and spawns its launcher (local.ts). */
  spawn(dir: string, shared: SharedMachineSettings): ChildProcess;
}

/** A spare's directory name starts so (a session's is its id); left over, it is removed on start. */
const SPARE_PREFIX = 'spare-';
/** After a start, how long before the next spare is started (not to compete with the start). */
const SPARE_DELAY_MS = 1_000;
/** How long a start waits for a spare that is still starting (one is ready in ~300 ms here). */
const SPARE_WAIT_MS = 1_000;
const SPARE_POLL_MS = 10;

/** The egress directory a spare machine binds (at MACHINE_EGRESS_DIR) until its session comes. */
export const spareEgressDir = (dir: string): string => join(dir, 'egress');

/**
 * Makes a spare's egress directory the session's: what the API put in the session's directory
 * (the proxy's socket, listening) moves into the spare's, which then takes the session
 * directory's name, replacing the emptied one (rename(2) replaces an empty directory). The
 * sandbox's bind follows the spare's directory (an inode); a socket keeps listening under its
 * new name (connect() finds it by its inode), and at the same path as before, so the API closes
 * or reopens it there as it would any other. Undone when a step fails.
 */
export function adoptEgressDir(spareDir: string, sessionDir: string): void {
  const moved: string[] = [];
  try {
    for (const name of existsSync(sessionDir) ? readdirSync(sessionDir) : []) {
      renameSync(join(sessionDir, name), join(spareDir, name));
      moved.push(name);
    }
    renameSync(spareDir, sessionDir);
  } catch (err) {
    for (const name of moved) renameSync(join(spareDir, name), join(sessionDir, name));
    throw err;
  }
}

const spareKey = (spec: SharedMachineSettings): string => JSON.stringify([spec.apiUrl, spec.runtimeEnv ?? {}]);

function isWaiting(spare: Spare): boolean {
  try {
    return readFileSync(join(spare.dir, 'runtime.log'), 'utf8').includes(LAUNCHER_WAITING_LINE);
  } catch {
    return false; // not yet written
  }
}

export class SpareMachine {
  private spare: Spare | null = null;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(private readonly options: SpareMachineOptions) {
    this.removeStale();
  }

  /** Spares of an API that is gone: their launchers exit when its pipe closes. */
  private removeStale(): void {
    let names: string[] = [];
    try {
      names = readdirSync(this.options.machinesDir);
    } catch {
      return;
    }
    for (const name of names) {
      if (name.startsWith(SPARE_PREFIX)) rmSync(join(this.options.machinesDir, name), { recursive: true, force: true });
    }
  }

  /**
   * The spare's launcher, its directory renamed to `dir`, when one fits this spec; else null
   * (start cold). Throws when the rename fails (the spare is let go).
   */
  async claim(spec: MachineSpec, dir: string, abort?: AbortSignal): Promise<ChildProcess | null> {
    const spare = await this.take(spec, abort);
    if (!spare) return null;
    // bwrap bound the spare's directories by inode: renamed, they stay the machine's. (A
    // rename would replace an empty directory: refuse an existing one, as mkdir does.)
    try {
      if (existsSync(dir)) throw new Error(`machine directory ${dir} already exists`);
      // A session without egress leaves the spare's directory empty; the bind shows nothing.
      if (spec.egressDir) adoptEgressDir(spareEgressDir(spare.dir), spec.egressDir);
      else rmdirSync(spareEgressDir(spare.dir));
      renameSync(spare.dir, dir);
    } catch (err) {
      void this.discard(spare);
      throw err;
    }
    return spare.child;
  }

  /**
   * The spare, if it is alive, was started with this spec's shared settings and waits for them
   * (before that, bwrap may not have bound its directories yet: it cannot be renamed). One still
   * starting is waited for, up to SPARE_WAIT_MS: it is ready sooner than a cold start would be,
   * and a cold start would compete with it for the CPU.
   */
  private async take(spec: MachineSpec, abort?: AbortSignal): Promise<Spare | null> {
    const spare = this.spare;
    if (!spare) return null;
    if (!isRunning(spare.child) || spare.key !== spareKey(spec)) {
      this.spare = null;
      void this.discard(spare);
      return null;
    }
    const deadline = Date.now() + SPARE_WAIT_MS;
    while (!isWaiting(spare)) {
      // Gone, taken by a concurrent start, too slow, or no longer wanted: start cold.
      if (!isRunning(spare.child) || this.spare !== spare || Date.now() > deadline || abort?.aborted) return null;
      await new Promise((r) => setTimeout(r, SPARE_POLL_MS));
    }
    if (this.spare !== spare) return null;
    this.spare = null;
    return spare;
  }

  /** Starts a spare machine for these settings, soon (not at once), unless one is there. */
  schedule(shared: SharedMachineSettings): void {
    if (!this.options.enabled || this.closed || this.spare || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      if (this.closed || this.spare) return;
      const dir = join(this.options.machinesDir, `${SPARE_PREFIX}${randomBytes(12).toString('hex')}`);
      try {
        mkdirSync(this.options.machinesDir, { recursive: true, mode: 0o700 });
        const child = this.options.spawn(dir, shared);
        this.spare = { dir, child, key: spareKey(shared) };
      } catch (err) {
        this.options.logger.warn({ err }, 'could not start a spare machine');
        rmSync(dir, { recursive: true, force: true });
      }
    }, SPARE_DELAY_MS);
    this.timer.unref();
  }

  /** Lets a spare go: its launcher exits on an empty stdin; then its directory is removed. */
  private async discard(spare: Spare): Promise<void> {
    spare.child.stdin?.end();
    if (isRunning(spare.child)) await new Promise((resolve) => spare.child.once('exit', resolve));
    rmSync(spare.dir, { recursive: true, force: true });
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const spare = this.spare;
    this.spare = null;
    if (!spare) return;
    // Bounded: should the launcher not exit, its directory goes anyway.
    await Promise.race([this.discard(spare), new Promise((resolve) => setTimeout(resolve, 2_000).unref())]);
    rmSync(spare.dir, { recursive: true, force: true });
  }
}
