/**
 * `new` and `connect` share this: attach to a session with sync-back into the directory the
 * session was created from (from its record), then print the sync summary.
 */
import path from 'node:path';
import fs from 'node:fs';
import type { Context } from '../context.js';
import { paths } from '../config.js';
import { ManifestStore, type SessionRecord } from '../sessions/store.js';
import { SyncApplier } from '../sync/applier.js';
import { SyncReport } from '../sync/report.js';
import { routes } from '../../api/contract/routes.js';
import { resolveApi } from '../api.js';
import { fetchLogs } from '../sessions/logs.js';
import { ExitCode } from '../errors.js';
import { localGitDir } from '../git-import/come-home.js';
import { attach, type EndedSession } from './attach.js';
import { DEFAULT_BACKOFF } from './backoff.js';

export const DEFAULT_RECONNECT_TIMEOUT_MS = 60_000;

export interface AttachSessionOptions {
  label: string;
  connectUrl: string;
  /** The runtime's Unix socket on this machine, when it is reached through one. */
  socketPath?: string;
  connectToken: string;
  record: SessionRecord | null;
  syncBack: boolean;
  autoReconnect: boolean;
  detachKey: number;
}

/** The session's state from the API when it is no longer running, else null. */
async function endedSession(ctx: Context, label: string): Promise<EndedSession | null> {
  const api = await resolveApi(ctx);
  const session = await api.call(routes.getSession, { params: { ref: label } });
  if (session.status === 'running' || session.status === 'provisioning') return null;
  const lastOutput = await fetchLogs(ctx, label).catch(() => Buffer.alloc(0));
  return { status: session.status, exitCode: session.exitCode, lastOutput };
}

function envMs(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const n = Number(env[name]);
  return Number.isFinite(n) && n > 0 ? n : fallback;
}

export async function attachSession(ctx: Context, o: AttachSessionOptions): Promise<number> {
  let sync: SyncApplier | null = null;
  let report: SyncReport | null = null;
  const logFile = path.join(paths.logs(ctx.home), `${o.label}.log`);
  if (o.syncBack && o.record) {
    if (fs.existsSync(o.record.localDir)) {
      report = new SyncReport(logFile);
      sync = new SyncApplier({ root: fs.realpathSync(o.record.localDir), label: o.label, manifest: ManifestStore.forSession(ctx, o.label), report });
    } else {
      ctx.stderr.write(`catty: ${o.record.localDir} no longer exists; sync-back is off for this attach.\n`);
    }
  } else if (o.syncBack) {
    ctx.stderr.write(`catty: no local directory is recorded for ${o.label} on this machine; sync-back is off.\n`);
  }
  const target = o.record && { label: o.label, connectUrl: o.connectUrl, socketPath: o.socketPath, connectToken: o.connectToken, localDir: o.record.localDir };
  const whileAttached = target ? new GitFollower(() => import('../git-import/come-home.js').then((m) => m.bringCommitsHome(target, ctx.env))) : null;
  try {
    const code = await attach(ctx, {
      label: o.label,
      connectUrl: o.connectUrl,
      socketPath: o.socketPath,
      connectToken: o.connectToken,
      detachKey: o.detachKey,
      autoReconnect: o.autoReconnect,
      reconnectTimeoutMs: envMs(ctx.env, 'CATTY_RECONNECT_TIMEOUT_MS', DEFAULT_RECONNECT_TIMEOUT_MS),
      backoff: { baseMs: envMs(ctx.env, 'CATTY_RECONNECT_BASE_MS', DEFAULT_BACKOFF.baseMs), maxMs: DEFAULT_BACKOFF.maxMs },
      sync,
      gitHome: o.record !== null && localGitDir(o.record.localDir) !== null,
      onGitMoved: () => whileAttached?.kick(),
      endedProbe: () => endedSession(ctx, o.label),
    });
    // Detached, or the agent exited (its machine waits for this): the agent's branches come home.
    // Not when the runtime is lost or gone: there is nobody to ask.
    await whileAttached?.idle();
    if (target && code !== ExitCode.connectionLost && code !== ExitCode.sessionGone) {
      const { bringCommitsHome } = await import('../git-import/come-home.js');
      const result = await bringCommitsHome(target, ctx.env);
      ctx.stderr.write(`${result.line}\n`);
    }
    return code;
  } finally {
    if (sync && report) {
      await sync.close();
      await report.close();
      for (const line of report.summary(o.label, logFile)) ctx.stderr.write(`${line}\n`);
    }
  }
}

/**
 * While attached: the agent's branches are fetched each time the runtime says they moved, one
 * fetch at a time (a move during a fetch makes one more after it). Silent: the terminal is the
 * agent's; the line comes at detach or exit.
 */
class GitFollower {
  #running: Promise<unknown> | null = null;
  #again = false;

  constructor(private readonly fetchOnce: () => Promise<unknown>) {}

  kick(): void {
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = this.fetchOnce()
      .catch(() => undefined)
      .finally(() => {
        this.#running = null;
        if (this.#again) {
          this.#again = false;
          this.kick();
        }
      });
  }

  async idle(): Promise<void> {
    this.#again = false;
    while (this.#running) await this.#running;
  }
}
