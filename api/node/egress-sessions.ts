/**
 * The sessions whose way out this node holds: each one's policy and credentials in memory
 * (never logged, never written) and its listener on the host's one egress proxy, with the
 * socket in a directory of the session's — `<nodeDir>/egress/<id>/` for the host's own
 * machines, the session's egress volume for a cluster machine (./machines.ts). A machine running
 * as another uid (a Docker container's user) is let into that directory only: its socket, its
 * CA certificate (shareSessionDir).
 */
import fs from 'node:fs';
import { join } from 'node:path';
import type { NetworkPolicy } from '../../session-runtime/wire/network-policy.js';
import { MAX_SOCKET_PATH_BYTES } from '../../session-runtime/wire/runtime-address.js';
import { EGRESS_CA_NAME, EGRESS_SOCKET_NAME } from '../../session-runtime/wire/runtime-env.js';
import type { EgressProxy, SessionCredentials } from '../egress/index.js';
import type { Logger } from '../logger.js';
import { NodeError } from './http-util.js';

export interface EgressSessions {
  readonly size: number;
  has(id: string): boolean;
  /** Opens the listener with its socket in `dir` (ours: closed while the socket is made), then
   * shares it with `machineUid` when given. 409 when the session has one. */
  open(id: string, dir: string, policy: NetworkPolicy, credentials: SessionCredentials, machineUid?: number): Promise<void>;
  /** 404 when the session has no listener. */
  setPolicy(id: string, policy: NetworkPolicy): void;
  /** Idempotent; the directory stays (the caller's). */
  close(id: string): Promise<void>;
  list(): Array<{ id: string; policy: NetworkPolicy; credentials: boolean }>;
}

/** The node's directory must be ours and closed to others before anything is put in it. */
export function ensurePrivateDir(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const stat = fs.lstatSync(dir);
  if (!stat.isDirectory() || (stat.mode & 0o077) !== 0 || (process.getuid && stat.uid !== process.getuid())) {
    throw new Error(`${dir} must be a directory of this user closed to others (0700)`);
  }
}

/** A session directory left by an earlier node (ours) goes back to 0700: the proxy makes its
 * socket only in a directory closed to others. */
function closeSessionDir(dir: string): void {
  const stat = fs.lstatSync(dir, { throwIfNoEntry: false });
  if (stat?.isDirectory() && stat.uid === process.getuid?.()) fs.chmodSync(dir, 0o700);
}

/**
 * Lets a machine that runs as another uid use the session's directory, bound into it read-only,
 * and nothing more: the proxy's socket becomes that uid's (0600: connecting needs write
 * permission on it), the directory 0711 (entered, not listed), the CA's certificate stays 0644
 * (public). Other users of the host are kept out by what is above it (the node's 0700 egress
 * root; the engine's 0700 volumes directory).
 */
function shareSessionDir(dir: string, uid: number): void {
  if (uid === process.getuid?.()) return;
  const socketPath = join(dir, EGRESS_SOCKET_NAME);
  try {
    fs.lchownSync(socketPath, uid, -1);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EPERM') throw err;
    throw new NodeError(400, 'cannot_share', `catty-node runs as uid ${process.getuid?.()} and cannot give the session's egress socket to uid ${uid}: run it as root or as uid ${uid}`);
  }
  fs.chmodSync(socketPath, 0o600);
  const ca = join(dir, EGRESS_CA_NAME);
  if (fs.lstatSync(ca, { throwIfNoEntry: false })?.isFile()) fs.chmodSync(ca, 0o644);
  fs.chmodSync(dir, 0o711);
}

export function createEgressSessions(proxy: EgressProxy, logger: Logger, onChange: () => void): EgressSessions {
  const held = new Map<string, { policy: NetworkPolicy; credentials: SessionCredentials }>();
  return {
    get size() {
      return held.size;
    },
    has: (id) => held.has(id),
    async open(id, dir, policy, credentials, machineUid) {
      if (held.has(id)) throw new NodeError(409, 'conflict', `session ${id} already has a listener`);
      const socketPath = join(dir, EGRESS_SOCKET_NAME);
      if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH_BYTES) {
        throw new NodeError(400, 'path_too_long', `the egress socket path ${socketPath} is longer than a Unix socket allows (${MAX_SOCKET_PATH_BYTES} bytes): use a shorter CATTY_DATA_DIR`);
      }
      held.set(id, { policy, credentials });
      try {
        // A directory an earlier node shared (0711) is closed again while the socket is made.
        closeSessionDir(dir);
        await proxy.open(id, socketPath, policy, credentials);
        if (machineUid !== undefined) shareSessionDir(dir, machineUid);
      } catch (err) {
        held.delete(id);
        await proxy.close(id);
        throw err;
      }
      onChange();
      // Whether it has credentials, never what they are.
      logger.info({ sessionId: id, model: credentials.model !== undefined, injectRules: credentials.inject.length, machineUid }, 'session egress opened');
    },
    setPolicy(id, policy) {
      const session = held.get(id);
      if (!session) throw new NodeError(404, 'not_found', `session ${id} has no listener`);
      proxy.setPolicy(id, policy);
      session.policy = policy;
    },
    async close(id) {
      const had = held.delete(id);
      await proxy.close(id);
      onChange();
      if (had) logger.info({ sessionId: id }, 'session egress closed');
    },
    list: () => [...held].map(([id, s]) => ({ id, policy: s.policy, credentials: s.credentials.model !== undefined || s.credentials.inject.length > 0 })),
  };
}
