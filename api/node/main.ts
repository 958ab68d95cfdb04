/**
 * `catty-node --dir DIR [--log-level LEVEL] [--idle-exit-ms N]`: the host-side process that
 * holds what crosses a session's boundary (./server.ts). catty-api starts it detached, so it
 * outlives the API, and finds it again through `<DIR>/control.sock`. One per directory (a pid
 * file: a second one exits at once). Logs to `<DIR>/node.log`; prints one line to stdout,
 * NODE_READY_PREFIX and the socket, once it answers; nothing else ever goes to stdout (the API
 * stops reading it). With no session and no API watching for --idle-exit-ms (default 60 s) it
 * exits: there is nothing left for it to hold; so it does when its control socket is removed
 * (its data directory deleted): no API could reach it again.
 *
 * Cluster mode, one per Swarm host (docs/cluster.md): `catty-node --listen-tls HOST:PORT
 * --tls-dir DIR [--dir DIR]` (CATTY_NODE_LISTEN_TLS, CATTY_NODE_TLS_DIR, CATTY_NODE_DIR; the
 * host's engine at CATTY_NODE_DOCKER_SOCKET) serves the same contract over mutual TLS to the
 * API alone, with the machines of this host; it never exits idle. `catty-node certs …` makes
 * the certificates (./certs.ts).
 */
import { acquirePidLock, liveProcessOf } from '../pid-lock.js';
import { createLogger } from '../logger.js';
import { NODE_READY_PREFIX, NODE_TLS_READY_PREFIX } from './contract.js';
import { logFileOf, pidFileOf } from './paths.js';
import { runCerts } from './certs.js';
import { ensurePrivateDir, startNodeServer, type ClusterOptions } from './server.js';
import { loadNodeTls } from './tls-listen.js';
import { engineVolumes } from './volumes.js';

const DEFAULT_IDLE_EXIT_MS = 60_000;
/** Cluster mode's node directory when none is given (its pid file, the egress root). */
const DEFAULT_CLUSTER_DIR = '/run/catty-node';
const DEFAULT_DOCKER_SOCKET = '/var/run/docker.sock';
const FLAGS = ['--dir', '--log-level', '--idle-exit-ms', '--listen-tls', '--tls-dir'];
const USAGE = 'usage: catty-node --dir DIR [--log-level LEVEL] [--idle-exit-ms N] | catty-node --listen-tls HOST:PORT --tls-dir DIR [--dir DIR] [--log-level LEVEL] | catty-node certs …';
const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** A live catty-node (not a reused pid). */
const liveNodeProcess = (pid: number): boolean => liveProcessOf(pid, /node\/bin\.js|catty-node/);

interface Args {
  dir: string;
  logLevel: string;
  idleExitMs: number | undefined;
  cluster: { host: string; port: number; tlsDir: string; dockerSocket: string } | null;
}

function parseArgs(argv: string[], env: NodeJS.ProcessEnv): Args {
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i += 2) {
    const [name, value] = [argv[i]!, argv[i + 1]];
    if (!FLAGS.includes(name) || value === undefined) throw new Error(`${USAGE} (not ${JSON.stringify(name)})`);
    flags.set(name, value);
  }
  const listenTls = flags.get('--listen-tls') ?? (env.CATTY_NODE_LISTEN_TLS || undefined);
  const tlsDir = flags.get('--tls-dir') ?? (env.CATTY_NODE_TLS_DIR || undefined);
  let cluster: Args['cluster'] = null;
  // Cluster mode is asked for by the address alone: CATTY_NODE_TLS_DIR is also the API's name
  // for its own side's material, and a host node must never turn into a cluster node for it.
  if (listenTls !== undefined) {
    const match = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(listenTls ?? '');
    if (!match || Number(match[2]) > 65535) throw new Error('catty-node: --listen-tls (CATTY_NODE_LISTEN_TLS) must be HOST:PORT, e.g. 0.0.0.0:7443');
    if (!tlsDir) throw new Error('catty-node: --listen-tls needs --tls-dir (CATTY_NODE_TLS_DIR): ca.pem, node.pem, node-key.pem from catty-node certs');
    cluster = { host: match[1]!.replace(/^\[|\]$/g, ''), port: Number(match[2]), tlsDir, dockerSocket: env.CATTY_NODE_DOCKER_SOCKET || DEFAULT_DOCKER_SOCKET };
  }
  const dir = flags.get('--dir') ?? (env.CATTY_NODE_DIR || undefined) ?? (cluster ? DEFAULT_CLUSTER_DIR : undefined);
  if (!dir || !dir.startsWith('/')) throw new Error('catty-node: --dir must be an absolute path');
  const logLevel = flags.get('--log-level') ?? 'info';
  if (!LEVELS.includes(logLevel)) throw new Error(`catty-node: --log-level must be one of ${LEVELS.join(', ')}`);
  if (cluster && flags.has('--idle-exit-ms')) throw new Error('catty-node: a cluster node never exits idle (no --idle-exit-ms with --listen-tls)');
  const idleExitMs = cluster ? undefined : Number(flags.get('--idle-exit-ms') ?? DEFAULT_IDLE_EXIT_MS);
  if (idleExitMs !== undefined && (!Number.isInteger(idleExitMs) || idleExitMs < 0)) throw new Error('catty-node: --idle-exit-ms must be a whole number of milliseconds');
  return { dir, logLevel, idleExitMs, cluster };
}

/** Resolves with the exit code once the node has stopped. */
export async function main(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  if (argv[0] === 'certs') {
    runCerts(argv.slice(1), (line) => process.stdout.write(`${line}\n`));
    return 0;
  }
  const { dir, logLevel, idleExitMs, cluster: clusterArgs } = parseArgs(argv, env);
  const cluster: ClusterOptions | undefined = clusterArgs
    ? { host: clusterArgs.host, port: clusterArgs.port, tls: loadNodeTls(clusterArgs.tlsDir), volumes: engineVolumes(clusterArgs.dockerSocket) }
    : undefined;
  ensurePrivateDir(dir);
  const claimed = acquirePidLock(pidFileOf(dir), liveNodeProcess);
  if ('heldBy' in claimed) {
    process.stderr.write(`catty-node: another catty-node (pid ${claimed.heldBy}) already serves ${dir}\n`);
    return 3;
  }
  const logger = createLogger({ level: logLevel, file: logFileOf(dir) });
  // The API reads the ready line and hangs up: later writes must not kill us.
  process.stdout.on('error', () => {});
  let stop!: (code: number) => void;
  const stopped = new Promise<number>((resolve) => (stop = resolve));
  let node: Awaited<ReturnType<typeof startNodeServer>>;
  const shutdown = (why: string): void => {
    logger.info({ why }, 'catty-node stopping');
    void node.close().finally(() => {
      claimed.lock.release();
      logger.flush();
      stop(0);
    });
  };
  try {
    node = await startNodeServer({ nodeDir: dir, logger, idleExitMs, cluster, onIdle: () => shutdown('idle: no session and no API'), onOrphaned: () => shutdown('orphaned: the control socket is gone') });
  } catch (err) {
    claimed.lock.release();
    throw err;
  }
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => shutdown(sig));
  // Started detached by the API: a hang-up of its terminal is not ours.
  process.on('SIGHUP', () => {});
  logger.info({ address: node.address, instance: node.instance, dockerSocket: clusterArgs?.dockerSocket }, 'catty-node listening');
  process.stdout.write(node.socketPath ? `${NODE_READY_PREFIX}${node.socketPath}\n` : `${NODE_TLS_READY_PREFIX}${node.address}\n`);
  return stopped;
}
