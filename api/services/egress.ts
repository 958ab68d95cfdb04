/**
 * Each session's way out (issue 20, item 4): catty-api runs ONE egress proxy (api/egress/) and
 * opens a listener per session at `<dataDir>/egress/<sessionId>/proxy.sock` with the session's
 * policy. The provisioner binds that DIRECTORY into the machine (MachineSpec.egressDir), never
 * the socket file: a restarted API listens again at the same path in the same directory, and the
 * machine's bind still shows it (SECURITY.md 35). Refusals are kept in the database for
 * `catty logs --net`, at most one write a second however fast they come.
 *
 * In-process for now: while catty-api is down, a session's requests fail (the runtime's bridge
 * answers 502). A host-side process of its own (`catty-node`, issue 20 item 2) will hold the
 * listeners and policies across API restarts; this module is what moves there.
 */
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { EGRESS_SOCKET_NAME } from '../../session-runtime/wire/runtime-env.js';
import { MAX_SOCKET_PATH_BYTES } from '../../session-runtime/wire/runtime-address.js';
import type { EgressRefusal, NetworkPolicy } from '../../session-runtime/wire/network-policy.js';
import { createEgressProxy, type EgressProxyOptions, type SessionCredentials } from '../egress/index.js';
import type { Logger } from '../logger.js';
import type { Db } from '../state/db.js';
import { appendRefusals, listRefusals, REFUSALS_KEPT } from '../state/egress-refusals.js';
import { LIVE_STATUSES, sessionById } from '../state/sessions.js';

export interface SessionEgress {
  /** Opens the session's listener with its credentials; returns the directory to bind into its machine. */
  open(sessionId: string, policy: NetworkPolicy, credentials?: SessionCredentials): Promise<string>;
  /** Closes the listener, writes its last refusals and removes its directory. Idempotent. */
  close(sessionId: string): Promise<void>;
  /**
   * After an API start: listeners again for the sessions still running, at their old paths;
   * the directories of sessions no longer live are removed.
   */
  restore(running: ReadonlyArray<{ id: string; policy: NetworkPolicy }>): Promise<void>;
  /** The session's refusals, newest last (those not yet written included). */
  refusals(sessionId: string): EgressRefusal[];
  /** API shutdown: listeners close, refusals are written, directories stay for the next start. */
  shutdown(): Promise<void>;
}

export interface SessionEgressOptions {
  dataDir: string;
  db: Db;
  logger: Logger;
  proxy?: Omit<EgressProxyOptions, 'onRefusal'>;
  /** Refusals are written at most once in this period (default 1 s), those between together. */
  flushMs?: number;
}

const FLUSH_MS = 1_000;

export function createSessionEgress(options: SessionEgressOptions): SessionEgress {
  const root = join(options.dataDir, 'egress');
  const { db, logger } = options;
  // Refusals not yet written, per session; each list keeps at most what the table keeps.
  const pending = new Map<string, EgressRefusal[]>();
  let timer: NodeJS.Timeout | null = null;
  let lastFlushMs = 0;
  const flushMs = options.flushMs ?? FLUSH_MS;

  const write = (sessionId: string): void => {
    const batch = pending.get(sessionId);
    pending.delete(sessionId);
    if (!batch) return;
    try {
      appendRefusals(db, sessionId, batch);
    } catch (err) {
      logger.error({ err, sessionId }, 'could not record egress refusals');
    }
  };
  const flush = (): void => {
    if (timer) clearTimeout(timer);
    timer = null;
    lastFlushMs = Date.now();
    for (const sessionId of [...pending.keys()]) write(sessionId);
  };

  const proxy = createEgressProxy({
    ...options.proxy,
    onRefusal(sessionId, refusal) {
      const batch = pending.get(sessionId) ?? [];
      batch.push(refusal);
      if (batch.length > REFUSALS_KEPT) batch.shift();
      pending.set(sessionId, batch);
      // The first refusal after a quiet second is written at once (an API killed right after
      // loses none); those that follow wait for the next second, written together.
      if (timer) return;
      const wait = lastFlushMs + flushMs - Date.now();
      if (wait <= 0) flush();
      else timer = setTimeout(flush, wait).unref();
    },
  });

  const dirOf = (sessionId: string): string => join(root, sessionId);
  const listen = async (sessionId: string, policy: NetworkPolicy, credentials?: SessionCredentials): Promise<string> => {
    const dir = dirOf(sessionId);
    const socketPath = join(dir, EGRESS_SOCKET_NAME);
    if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH_BYTES) {
      throw new Error(`the egress socket path ${socketPath} is longer than a Unix socket allows (${MAX_SOCKET_PATH_BYTES} bytes): use a shorter CATTY_DATA_DIR`);
    }
    // The proxy creates the session's directory 0700 inside ours, also 0700.
    await proxy.open(sessionId, socketPath, policy, credentials);
    return dir;
  };

  return {
    open: listen,
    async close(sessionId) {
      await proxy.close(sessionId);
      write(sessionId);
      rmSync(dirOf(sessionId), { recursive: true, force: true });
    },
    async restore(running) {
      for (const { id, policy } of running) {
        try {
          await listen(id, policy);
        } catch (err) {
          logger.error({ err, sessionId: id }, 'could not listen again for a running session: it has no egress');
        }
      }
      let names: string[] = [];
      try {
        names = readdirSync(root);
      } catch {
        return; // no session has had one yet
      }
      for (const name of names) {
        const row = sessionById(db, name);
        if (!row || !LIVE_STATUSES.includes(row.status)) rmSync(join(root, name), { recursive: true, force: true });
      }
    },
    refusals(sessionId) {
      write(sessionId);
      return listRefusals(db, sessionId);
    },
    async shutdown() {
      await proxy.closeAll();
      flush();
    },
  };
}
