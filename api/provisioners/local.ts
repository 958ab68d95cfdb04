/**
 * The local provisioner: each machine is a detached `catty-session` process (stdio to a log
 * file, never a pipe to the API, so it outlives an API restart), in `<data dir>/machines/<id>/`
 * with its own workspace, sandboxed by bubblewrap when available (bwrap.ts). Its runtime listens
 * on a Unix socket in the machine's own run directory (`run/runtime.sock`; MACHINE_RUN_DIR
 * inside), never on a port. Each machine's pids and socket are kept in machine.json so a
 * restarted API can find, reach and stop it.
 *
 * With `spare`, one sandboxed machine is started ahead and waits for its session's settings
 * (local-spare.ts): a start then skips bubblewrap's and Node's start.
 *
 * Egress: the session's egress directory (MachineSpec.egressDir, where the API's proxy listens)
 * is bound read-only at MACHINE_EGRESS_DIR, and the runtime is told its socket
 * (CATTY_EGRESS_SOCKET) with the session's settings (machine-env.ts: what both provisioners give).
 *
 * Sandboxed, the runtime runs an execute-only copy of node (exec-only-node.ts, made once per node
 * binary in the data directory): the agent, the same uid, cannot read its memory or environment.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EGRESS_SOCKET_NAME, LauncherEnv, MACHINE_CALLBACK_SOCKET, MACHINE_EGRESS_DIR, MACHINE_RUNTIME_SOCKET, READY_LINE_PREFIX } from '../../session-runtime/wire/runtime-env.js';
import { MAX_SOCKET_PATH_BYTES, SOCKET_BASE_URL, UNIX_LISTEN_PREFIX } from '../../session-runtime/wire/runtime-address.js';
import { usageError } from '../errors.js';
import type { Logger } from '../logger.js';
import { packageRoot, runtimeBinPath } from '../package-root.js';
import { openCallbackGateway, type CallbackGateway } from '../node/callback-gateway.js';
import { bwrapArgs, bwrapProblem, findBwrap, passwdFor, SANDBOX_HOME, SANDBOX_RUNTIME_NODE, SANDBOX_WORKSPACE } from './bwrap.js';
import { execOnlyNode } from './exec-only-node.js';
import { SpareMachine, spareEgressDir } from './local-spare.js';
import { machineEnv, runDirSockets, sessionEnv } from './machine-env.js';
import { readMachineRecord, waitForReadyLine, writeMachineRecord, type MachineRecord } from './machine-record.js';
import { findDescendant, isOurProcess, isRunning, terminateThenKill } from './processes.js';
import type { Machine, MachineInfo, MachineSpec, Provisioner, SharedMachineSettings } from './types.js';

export interface LocalProvisionerOptions {
  dataDir: string;
  logger: Logger;
  /** 'auto': bwrap when on PATH. 'none' is for hosts without it (loud warning). */
  sandbox?: 'auto' | 'bwrap' | 'none';
  packageRoot?: string;
  /** How long a runtime gets to print its ready line. */
  readyTimeoutMs?: number;
  /** Niceness of the machines (runtime and agent, and their scheduling groups: session-runtime/priority.ts); 0 by default (see Config.localNice). */
  nice?: number;
  /**
   * Keep one machine started ahead, waiting for its session (sandboxed only): the next `start`
   * skips bubblewrap's and Node's start. Off by default (see Config.localSpare).
   */
  spare?: boolean;
}

const MACHINE_ID = /^[A-Za-z0-9_-]{1,64}$/;
const POLL_MS = 50;
/** A session id (api/crypto.ts newId): the length a machine directory's name has. */
const SESSION_ID_CHARS = 24;

/** The machine's run directory (0700; bound at MACHINE_RUN_DIR inside) and the runtime's socket
 * in it, as the host sees them. */
const runDir = (dir: string): string => join(dir, 'run');
const hostRuntimeSocket = (dir: string): string => runDirSockets(runDir(dir)).runtime;
/** The host's end of a sandboxed machine's own route out (callback-gateway.ts). */
const hostCallbackSocket = (dir: string): string => runDirSockets(runDir(dir)).callback;

export class LocalProvisioner implements Provisioner {
  readonly kind = 'local' as const;
  readonly sandboxed: boolean;
  /** Set when sessions run without a sandbox, or are refused: the operator must hear about it. */
  readonly warning: string | null = null;
  /** Set when no session may start: no working bubblewrap, and no explicit opt-out. */
  readonly refusal: string | null = null;
  private readonly root: string;
  private readonly bin: string;
  private readonly launcher: string;
  private readonly bwrap: string | null;
  /** The runtime's execute-only node on the host (sandboxed only), or null: the ordinary one. */
  private readonly runtimeNode: string | null = null;
  private readonly machinesDir: string;
  /** How the runtime's own process looks in /proc: `node <launcher> <bin>`. */
  private readonly runtimeArgv: { index: number; value: string };
  private readonly spare: SpareMachine;
  /** Each sandboxed machine's route out, by machine id (open while this API runs). */
  private readonly gateways = new Map<string, Promise<CallbackGateway>>();

  constructor(private readonly options: LocalProvisionerOptions) {
    this.root = options.packageRoot ?? packageRoot();
    this.bin = runtimeBinPath(this.root);
    this.machinesDir = join(options.dataDir, 'machines');
    this.launcher = join(this.root, 'dist', 'session-runtime', 'launcher.js');
    this.runtimeArgv = { index: 1, value: this.launcher };
    // The host reaches each runtime through <machine dir>/run/runtime.sock: the path must fit a
    // sockaddr_un, or no session could ever be reached. Said now, not at the first session.
    const longest = hostRuntimeSocket(join(this.machinesDir, 'x'.repeat(SESSION_ID_CHARS)));
    if (Buffer.byteLength(longest) > MAX_SOCKET_PATH_BYTES) {
      throw usageError(
        `the data directory ${options.dataDir} is too deep for the sessions' sockets (${longest} would be ${Buffer.byteLength(longest)} bytes; Linux allows ${MAX_SOCKET_PATH_BYTES})`,
        'Set CATTY_DATA_DIR to a shorter path.',
      );
    }
    const mode = options.sandbox ?? 'auto';
    const found = mode === 'none' ? null : findBwrap();
    const problem = found ? bwrapProblem(found) : null;
    if (mode === 'bwrap' && (!found || problem)) throw new Error(`bwrap is required (CATTY_LOCAL_SANDBOX=bwrap) but ${found ? `does not work: ${problem}` : 'is not on PATH'}`);
    this.bwrap = found && !problem ? found : null;
    this.sandboxed = this.bwrap !== null;
    if (!this.sandboxed && mode !== 'none') {
      // Unsandboxed only when asked for by name: by default a missing sandbox is an error the
      // user sees on `catty new`, with what opting out would cost.
      const why = found ? `bubblewrap is installed but cannot sandbox here (${problem})` : 'bubblewrap (bwrap) is not installed';
      this.refusal =
        `local sessions need a working bubblewrap sandbox, and ${why}. Install bubblewrap (the bubblewrap package), or opt out with ` +
        'CATTY_LOCAL_SANDBOX=none to run sessions WITHOUT isolation: the agent would then act as you, read and write all your files ' +
        "(SSH keys, other projects, other sessions, catty's own data) and reach your network and every service on this machine.";
      this.warning = `${why}: local sessions are refused. Install bubblewrap, or set CATTY_LOCAL_SANDBOX=none to run them WITHOUT isolation.`;
      options.logger.warn(this.warning);
    } else if (mode === 'none') {
      this.warning = 'CATTY_LOCAL_SANDBOX=none: local sessions run WITHOUT isolation.';
      options.logger.warn(this.warning);
    }
    if (this.bwrap) {
      const node = execOnlyNode(options.dataDir);
      this.runtimeNode = node.path;
      if (node.path === null) options.logger.warn(`${node.problem}: the agent of a local session can read its runtime's memory (the session's tokens)`);
    }
    this.spare = new SpareMachine({
      machinesDir: this.machinesDir,
      logger: options.logger,
      enabled: options.spare === true && this.bwrap !== null,
      // A spare has an egress directory of its own; its session's takes it over (local-spare.ts).
      spawn: (dir, shared) => this.spawnMachine(dir, shared, spareEgressDir(dir)),
    });
  }

  private dir(machineId: string): string {
    if (!MACHINE_ID.test(machineId)) throw new Error(`invalid machine id ${JSON.stringify(machineId)}`);
    return join(this.machinesDir, machineId);
  }

  async start(spec: MachineSpec, abort?: AbortSignal): Promise<Machine> {
    if (this.refusal) throw new Error(this.refusal);
    const machineId = spec.sessionId;
    const dir = this.dir(machineId);
    mkdirSync(this.machinesDir, { recursive: true, mode: 0o700 });
    retireEndedMachine(dir);
    try {
      const child = (await this.spare.claim(spec, dir, abort)) ?? this.spawnMachine(dir, spec, spec.egressDir);
      return await this.handOver(machineId, dir, child, spec, abort);
    } finally {
      this.spare.schedule(spec);
    }
  }

  /** Creates the machine's directories and spawns its launcher, which then waits on stdin. */
  private spawnMachine(dir: string, shared: SharedMachineSettings, egressDir: string | undefined): ChildProcess {
    const paths = { workspace: join(dir, 'workspace'), tmp: join(dir, 'tmp'), home: join(dir, 'home'), run: runDir(dir), passwdFile: join(dir, 'passwd'), groupFile: join(dir, 'group') };
    mkdirSync(dir, { mode: 0o700 });
    for (const d of [paths.workspace, paths.tmp, paths.home, paths.run]) mkdirSync(d, { mode: 0o700 });
    // A sandboxed runtime listens at the same path inside every machine (a spare is started
    // before its directory gets its final name; bwrap bound the directory, which keeps it).
    const inside = this.bwrap
      ? { workspace: SANDBOX_WORKSPACE, home: SANDBOX_HOME, tmp: '/tmp', socket: MACHINE_RUNTIME_SOCKET }
      : { workspace: paths.workspace, home: paths.home, tmp: paths.tmp, socket: hostRuntimeSocket(dir) };
    const env: Record<string, string> = {
      // Its own network: the runtime's callbacks and snapshot PUTs leave through the host's socket.
      ...machineEnv(shared, { workspace: inside.workspace, agentHome: inside.home, listenSocket: inside.socket, callbackSocket: this.bwrap ? MACHINE_CALLBACK_SOCKET : null }),
      PATH: `${join(this.root, 'node_modules', '.bin')}:/usr/local/bin:/usr/bin:/bin`,
      LANG: 'C.UTF-8',
      TERM: 'xterm-256color',
      HOME: inside.home,
      TMPDIR: inside.tmp,
      ...(this.options.nice ? { [LauncherEnv.nice]: String(this.options.nice) } : {}),
    };
    const logFd = openSync(join(dir, 'runtime.log'), 'a', 0o600);
    try {
      let child: ChildProcess;
      if (this.bwrap) {
        const { passwd, group } = passwdFor('/bin/bash');
        writeFileSync(paths.passwdFile, passwd, { mode: 0o644 });
        writeFileSync(paths.groupFile, group, { mode: 0o644 });
        if (egressDir) mkdirSync(egressDir, { recursive: true, mode: 0o700 });
        const node = this.runtimeNode ? { runtimeNode: this.runtimeNode } : {};
        const argv = [this.runtimeNode ? SANDBOX_RUNTIME_NODE : process.execPath, this.launcher, this.bin];
        const args = bwrapArgs({ ...paths, packageRoot: this.root, nodePath: process.execPath, egressDir, ...node }, argv);
        child = spawn(this.bwrap, args, { env, detached: true, stdio: ['pipe', logFd, logFd] });
      } else {
        child = spawn(process.execPath, [this.launcher, this.bin], { env, cwd: paths.workspace, detached: true, stdio: ['pipe', logFd, logFd] });
      }
      child.stdin!.on('error', () => undefined);
      child.on('error', () => undefined);
      child.unref();
      // A spare's pipe stays open until its session comes; it must not keep the API alive.
      (child.stdin as unknown as { unref?: () => void }).unref?.();
      return child;
    } finally {
      closeSync(logFd);
    }
  }

  /**
   * Gives the launcher the session's own settings on stdin — secrets travel there, not in the
   * exec environment (session-runtime/launcher.ts) — and waits for the runtime's ready line.
   */
  private async handOver(machineId: string, dir: string, child: ChildProcess, spec: MachineSpec, abort?: AbortSignal): Promise<Machine> {
    const pid = child.pid;
    if (pid === undefined) throw new Error('could not spawn the session runtime');
    const record: MachineRecord = { sessionId: spec.sessionId, pid, runtimePid: this.bwrap ? null : pid, runtimeUrl: null, runtimeSocket: null, apiUrl: spec.apiUrl, sandbox: this.bwrap ? 'bwrap' : 'none', startedAt: new Date().toISOString() };
    writeMachineRecord(dir, record);
    // Listening before the runtime starts: its first callback finds the way out open.
    if (this.bwrap) await this.openGateway(machineId, dir, spec.apiUrl).catch(async (err: unknown) => {
      await this.stop(machineId, { graceMs: 0 });
      throw err;
    });
    const egressSocket = spec.egressDir ? (this.bwrap ? `${MACHINE_EGRESS_DIR}/${EGRESS_SOCKET_NAME}` : join(spec.egressDir, EGRESS_SOCKET_NAME)) : null;
    // The pipe closes right after: nothing ties the machine to this process.
    child.stdin!.end(JSON.stringify(sessionEnv(spec, egressSocket)));
    try {
      const address = await waitForReadyLine(join(dir, 'runtime.log'), READY_LINE_PREFIX, {
        timeoutMs: this.options.readyTimeoutMs ?? 15_000,
        abort,
        exited: () => !isRunning(child),
      });
      const expected = `${UNIX_LISTEN_PREFIX}${this.bwrap ? MACHINE_RUNTIME_SOCKET : hostRuntimeSocket(dir)}`;
      if (address !== expected) throw new Error(`the session runtime listens on ${address}, not on ${expected}`);
      // Inside the sandbox the socket is at MACHINE_RUNTIME_SOCKET; here, in the run directory.
      record.runtimeUrl = SOCKET_BASE_URL;
      record.runtimeSocket = hostRuntimeSocket(dir);
      if (this.bwrap) record.runtimePid = await this.findRuntimePid(pid);
      writeMachineRecord(dir, record);
      return { machineId, runtimeUrl: record.runtimeUrl, runtimeSocket: record.runtimeSocket };
    } catch (err) {
      await this.stop(machineId, { graceMs: 0 });
      throw err;
    }
  }

  /** Starts a spare machine for these settings (soon, not at once), so even a first start is warm. */
  prepare(shared: SharedMachineSettings): void {
    this.spare.schedule(shared);
  }

  private async findRuntimePid(bwrapPid: number): Promise<number | null> {
    for (let i = 0; i < 40; i++) {
      const pid = findDescendant(bwrapPid, this.runtimeArgv);
      if (pid !== null) return pid;
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
    return null;
  }

  private alivePids(record: MachineRecord): number[] {
    const pids: number[] = [];
    if (record.runtimePid !== null && isOurProcess(record.runtimePid, this.runtimeArgv)) pids.push(record.runtimePid);
    const outer = record.sandbox === 'bwrap' ? { index: 0, value: 'bwrap' } : this.runtimeArgv;
    if (record.pid !== record.runtimePid && isOurProcess(record.pid, outer)) pids.push(record.pid);
    return pids;
  }

  async stop(machineId: string, options: { graceMs: number }): Promise<void> {
    const dir = this.dir(machineId);
    const record = readMachineRecord(dir);
    if (record) {
      if (record.runtimePid === null && record.sandbox === 'bwrap') record.runtimePid = findDescendant(record.pid, this.runtimeArgv);
      // SIGTERM the runtime itself (bwrap does not forward signals): it takes a final snapshot.
      await terminateThenKill(record.runtimePid ?? record.pid, () => this.alivePids(record), { graceMs: options.graceMs });
    }
    await this.closeGateway(machineId);
    // The log stays for `catty logs` forensics; everything else of the machine goes.
    for (const entry of ['workspace', 'tmp', 'home', 'run', 'passwd', 'group', 'machine.json']) rmSync(join(dir, entry), { recursive: true, force: true });
  }

  async isAlive(machineId: string): Promise<boolean> {
    const record = readMachineRecord(this.dir(machineId));
    if (!record) return false;
    return record.runtimePid !== null ? isOurProcess(record.runtimePid, this.runtimeArgv) : this.alivePids(record).length > 0;
  }

  async list(): Promise<MachineInfo[]> {
    let names: string[];
    try {
      names = readdirSync(this.machinesDir);
    } catch {
      return [];
    }
    const out: MachineInfo[] = [];
    for (const name of names) {
      if (!MACHINE_ID.test(name)) continue;
      const record = readMachineRecord(join(this.machinesDir, name));
      if (!record) continue;
      const alive = await this.isAlive(name);
      // A restarted API: the machines it keeps need their route out again.
      if (alive && record.sandbox === 'bwrap' && record.apiUrl) await this.openGateway(name, join(this.machinesDir, name), record.apiUrl).catch((err: unknown) => this.options.logger.error({ err, machineId: name }, 'could not reopen a machine’s route out'));
      out.push({ machineId: name, sessionId: record.sessionId, runtimeUrl: record.runtimeUrl ?? '', ...(record.runtimeSocket ? { runtimeSocket: record.runtimeSocket } : {}), alive });
    }
    return out;
  }

  /** Opens the machine's route out unless it is open (a socket left by an API that died goes). */
  private openGateway(machineId: string, dir: string, apiUrl: string): Promise<CallbackGateway> {
    let opening = this.gateways.get(machineId);
    if (!opening) {
      const path = hostCallbackSocket(dir);
      opening = (async () => {
        rmSync(path, { force: true });
        return openCallbackGateway(path, apiUrl, this.options.logger.child({ machineId }));
      })();
      this.gateways.set(machineId, opening);
      opening.catch(() => this.gateways.delete(machineId));
    }
    return opening;
  }

  private async closeGateway(machineId: string): Promise<void> {
    const opening = this.gateways.get(machineId);
    this.gateways.delete(machineId);
    await (await opening?.catch(() => null))?.close();
  }

  /** The spare goes, and this API's ends of the machines' routes out (the machines stay). */
  async close(): Promise<void> {
    await this.spare.close();
    await Promise.all([...this.gateways.keys()].map((id) => this.closeGateway(id)));
  }
}

/**
 * A resumed session's machine has its id again (`catty resume`): the ended machine left only
 * its log (stop keeps it), which moves to `<id>.previous.log` so the new machine's directory is
 * made afresh and its ready line is the only one read. A directory with a machine record is a
 * machine that may still run, and is left for start to refuse.
 */
function retireEndedMachine(dir: string): void {
  if (!existsSync(dir) || readMachineRecord(dir)) return;
  if (existsSync(join(dir, 'runtime.log'))) renameSync(join(dir, 'runtime.log'), `${dir}.previous.log`);
  rmSync(dir, { recursive: true, force: true });
}
