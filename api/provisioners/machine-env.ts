/**
 * What a machine's runtime is told, whichever provisioner starts it (local.ts, docker.ts): the
 * CATTY_* settings of where it runs — its workspace and agent home, the Unix socket it listens
 * on, the API it calls back and, in a machine with a network of its own, the socket its own
 * requests leave through — and the session's settings (tokens, the agent, the egress socket).
 * One place, so a sandboxed local machine and a container are configured alike. Also the host
 * side of a machine's run directory (MACHINE_RUN_DIR inside): the sockets it holds.
 */
import { join } from 'node:path';
import { EGRESS_SOCKET_NAME, MACHINE_EGRESS_DIR, RUNTIME_NODE_OPTIONS, RuntimeEnv } from '../../session-runtime/wire/runtime-env.js';
import { UNIX_LISTEN_PREFIX } from '../../session-runtime/wire/runtime-address.js';
import type { MachineSpec, SharedMachineSettings } from './types.js';

/** The sockets in a machine's run directory, as the host sees them. */
export const runDirSockets = (runDir: string): { runtime: string; callback: string } => ({
  runtime: join(runDir, 'runtime.sock'),
  /** The host's end of the machine's own route out (callback-gateway.ts). */
  callback: join(runDir, 'callback.sock'),
});

/** The egress proxy's socket inside a machine that binds the session's egress directory at
 * MACHINE_EGRESS_DIR (a sandboxed local machine, a container): CATTY_EGRESS_SOCKET. */
export const MACHINE_EGRESS_SOCKET = `${MACHINE_EGRESS_DIR}/${EGRESS_SOCKET_NAME}`;

/** Paths as the runtime sees them, inside its machine. */
export interface MachinePaths {
  workspace: string;
  agentHome: string;
  /** The socket the runtime listens on (CATTY_LISTEN=unix:…). */
  listenSocket: string;
  /** The callback gateway's socket (a machine with its own network); null: straight out. */
  callbackSocket: string | null;
}

/** Where the machine runs (no secret here: a spare machine gets it before its session exists). */
export function machineEnv(shared: SharedMachineSettings, inside: MachinePaths): Record<string, string> {
  return {
    ...(shared.runtimeEnv ?? {}),
    // V8 flags for the runtime's own memory budget (the agent's env is built from nothing).
    NODE_OPTIONS: RUNTIME_NODE_OPTIONS,
    [RuntimeEnv.workspace]: inside.workspace,
    [RuntimeEnv.listen]: `${UNIX_LISTEN_PREFIX}${inside.listenSocket}`,
    [RuntimeEnv.agentHome]: inside.agentHome,
    [RuntimeEnv.apiUrl]: shared.apiUrl,
    ...(inside.callbackSocket ? { [RuntimeEnv.callbackSocket]: inside.callbackSocket } : {}),
  };
}

/** The session's own settings: its tokens, its agent and its secrets (only inside CATTY_AGENT_ENV,
 * which the runtime hands to the agent alone), and the egress proxy's socket inside the machine. */
export function sessionEnv(spec: MachineSpec, egressSocket: string | null): Record<string, string> {
  return {
    [RuntimeEnv.connectToken]: spec.connectToken,
    [RuntimeEnv.machineToken]: spec.machineToken,
    [RuntimeEnv.agentCmd]: JSON.stringify(spec.agentCmd),
    ...(spec.agent ? { [RuntimeEnv.agent]: spec.agent } : {}),
    [RuntimeEnv.agentEnv]: JSON.stringify(spec.agentEnv),
    ...(spec.upload ? {} : { [RuntimeEnv.noUpload]: '1' }),
    ...(egressSocket ? { [RuntimeEnv.egressSocket]: egressSocket } : {}),
    ...(egressSocket && spec.modelRoute ? { [RuntimeEnv.modelRoute]: JSON.stringify(spec.modelRoute) } : {}),
  };
}
