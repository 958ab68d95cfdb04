/**
 * Cluster mode: the session machines this node holds (issue 22). The engine of this host
 * started each one as a Swarm task, with three named volumes the API cannot see: the node finds
 * them (./volumes.ts), waits for the runtime's socket in the run volume and takes that directory
 * back (./run-dir.ts), opens the machine's callback gateway there (./callback-gateway.ts) and
 * its egress listener in the egress volume (./egress-sessions.ts); the API then reaches the
 * runtime through the node (./runtime-proxy.ts). Closing removes the session's volumes through
 * this host's engine, and nothing else.
 */
import fs from 'node:fs';
import type * as z from '../../session-runtime/wire/zod.js';
import type { Logger } from '../logger.js';
import { openCallbackGateway, type CallbackGateway } from './callback-gateway.js';
import { ATTACH_TIMEOUT_MS, machineVolumeName, type AttachMachine } from './contract.js';
import type { EgressSessions } from './egress-sessions.js';
import { NodeError } from './http-util.js';
import { holdRunDir, type HeldRunDir } from './run-dir.js';
import { checkSessionVolume, type VolumeInfo, type VolumeStore } from './volumes.js';

const RUNTIME_SOCKET = 'runtime.sock';
const CALLBACK_SOCKET = 'callback.sock';
const POLL_MS = 50;
const REMOVE_RETRY_MS = 200;
const REMOVE_ATTEMPTS = 50;

export interface MachineHost {
  attach(id: string, request: z.output<typeof AttachMachine>): Promise<void>;
  close(id: string, volumes: string[]): Promise<void>;
  list(): string[];
  /** The attached machine's runtime socket (through the held directory), or undefined. */
  runtimeSocket(id: string): string | undefined;
  /** The node stops: gateways and directories let go (the machines run on). */
  closeAll(): Promise<void>;
}

interface Held {
  runDir: HeldRunDir;
  gateway: CallbackGateway;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export function createMachineHost(options: { volumes: VolumeStore; egress: EgressSessions; logger: Logger }): MachineHost {
  const { volumes, egress, logger } = options;
  const held = new Map<string, Held>();
  const attaching = new Map<string, Promise<void>>();

  /** The session's volume on this host, waited for until `deadline` (the task may be starting). */
  async function findVolume(name: string, id: string, deadline: number): Promise<VolumeInfo> {
    for (;;) {
      const found = await volumes.inspect(name);
      if (found) return checkSessionVolume(found, id);
      if (Date.now() >= deadline) throw new NodeError(404, 'no_volume', `volume ${name} is not on this node's engine: is the session's task running here?`);
      await sleep(POLL_MS * 4);
    }
  }

  async function attachNow(id: string, request: z.output<typeof AttachMachine>): Promise<void> {
    const deadline = Date.now() + (request.timeoutMs ?? ATTACH_TIMEOUT_MS.default);
    const runVolume = await findVolume(request.runVolume, id, deadline);
    const egressVolume = await findVolume(request.egressVolume, id, deadline);
    const runDir = notALink(runVolume, () => holdRunDir(runVolume.mountpoint));
    let gateway: CallbackGateway | undefined;
    try {
      while (!runDir.isSocket(RUNTIME_SOCKET)) {
        if (Date.now() >= deadline) throw new NodeError(504, 'runtime_not_listening', `the runtime of session ${id} did not make ${RUNTIME_SOCKET} in time`);
        await sleep(POLL_MS);
      }
      runDir.lock();
      // Checked again now that the machine can no longer change the directory.
      if (!runDir.isSocket(RUNTIME_SOCKET)) throw new NodeError(409, 'runtime_socket_replaced', `${RUNTIME_SOCKET} of session ${id} is no longer a socket`);
      const callback = runDir.path(CALLBACK_SOCKET);
      fs.rmSync(callback, { recursive: true, force: true });
      gateway = await openCallbackGateway(callback, request.apiUrl, logger.child({ sessionId: id }));
      fs.lchownSync(callback, request.machineUid, -1);
      notALink(egressVolume, () => takeEgressDir(egressVolume.mountpoint));
      await egress.close(id);
      await egress.open(id, egressVolume.mountpoint, request.policy, request.credentials, request.machineUid);
    } catch (err) {
      await gateway?.close();
      runDir.close();
      throw err;
    }
    held.set(id, { runDir, gateway });
    logger.info({ sessionId: id }, 'machine attached');
  }

  async function release(id: string): Promise<void> {
    const machine = held.get(id);
    held.delete(id);
    await machine?.gateway.close();
    machine?.runDir.close();
  }

  return {
    attach(id, request) {
      if (request.runVolume !== machineVolumeName('run', id) || request.egressVolume !== machineVolumeName('egress', id)) {
        return Promise.reject(new NodeError(400, 'wrong_volume', `session ${id}'s volumes are ${machineVolumeName('run', id)} and ${machineVolumeName('egress', id)}`));
      }
      if (held.has(id)) return Promise.resolve();
      let pending = attaching.get(id);
      if (!pending) {
        pending = attachNow(id, request).finally(() => attaching.delete(id));
        attaching.set(id, pending);
      }
      return pending;
    },

    async close(id, names) {
      const own = new Set(['ws', 'run', 'egress'].map((kind) => machineVolumeName(kind as 'ws', id)));
      const foreign = names.filter((name) => !own.has(name));
      if (foreign.length > 0) throw new NodeError(400, 'wrong_volume', `session ${id} has no volume ${foreign.join(', ')}`);
      await attaching.get(id)?.catch(() => undefined);
      await release(id);
      await egress.close(id);
      for (const name of names) await removeVolume(name, id);
      logger.info({ sessionId: id, volumes: names }, 'machine closed');
    },

    list: () => [...held.keys()],
    runtimeSocket: (id) => held.get(id)?.runDir.path(RUNTIME_SOCKET),

    async closeAll() {
      await Promise.all([...held.keys()].map((id) => release(id)));
    },
  };

  async function removeVolume(name: string, id: string): Promise<void> {
    const found = await volumes.inspect(name);
    if (!found) return;
    checkSessionVolume(found, id);
    for (let attempt = 1; ; attempt++) {
      const result = await volumes.remove(name);
      if (result !== 'in_use') return;
      // The engine holds a volume for a moment after its task's container went away.
      if (attempt >= REMOVE_ATTEMPTS) throw new NodeError(409, 'volume_in_use', `volume ${name} is still in use (is the session's task still running?)`);
      await sleep(REMOVE_RETRY_MS);
    }
  }
}

/** A volume's directory that is a link or not a directory is refused (409), never followed. */
function notALink<T>(volume: VolumeInfo, open: () => T): T {
  try {
    return open();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ELOOP' || code === 'ENOTDIR' || code === 'ENOENT') throw new NodeError(409, 'not_session_volume', `volume ${volume.name}'s directory is not a directory on this host (${code})`);
    throw err;
  }
}

/**
 * The egress volume becomes the node's (the proxy makes its socket only in a directory of its
 * own, closed to others): through a descriptor opened without following a link. The machine
 * binds it read-only, so nothing in it is the machine's doing.
 */
function takeEgressDir(dir: string): void {
  const fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW);
  try {
    fs.fchownSync(fd, process.getuid?.() ?? 0, process.getgid?.() ?? 0);
    fs.fchmodSync(fd, 0o700);
  } finally {
    fs.closeSync(fd);
  }
}
