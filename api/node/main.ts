/**
 * `catty-node --dir DIR [--log-level LEVEL] [--idle-exit-ms N]`: the host-side process that
 * holds what crosses a session's boundary (./server.ts). catty-api starts it detached, so it
 * outlives the API, and finds it again through `<DIR>/control.sock`. One per directory (a pid
 * file: a second one exits at once). Logs to `<DIR>/node.log`; prints one line to stdout,
 * NODE_READY_PREFIX and the socket, once it answers; nothing else ever goes to stdout (the API
 * stops reading it). With no session and no API watching for --idle-exit-ms (default 60 s) it
 * exits: there is nothing left for it to hold; so it does when its control socket is removed
 * (its data directory deleted): no API could reach it again.
 */
import { acquirePidLock, liveProcessOf } from '../pid-lock.js';
import { createLogger } from '../logger.js';
import { NODE_READY_PREFIX } from './contract.js';
import { logFileOf, pidFileOf } from './paths.js';
import { ensurePrivateDir, startNodeServer } from './server.js';

const DEFAULT_IDLE_EXIT_MS = 60_000;
const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** A live catty-node (not a reused pid). */
const liveNodeProcess = (pid: number): boolean => liveProcessOf(pid, /node\/bin\.js|catty-node/);

function parseArgs(argv: string[]): { dir: string; logLevel: string; idleExitMs: number } {
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i += 2) {
    const [name, value] = [argv[i]!, argv[i + 1]];
    if (!['--dir', '--log-level', '--idle-exit-ms'].includes(name) || value === undefined) throw new Error(`usage: catty-node --dir DIR [--log-level LEVEL] [--idle-exit-ms N] (not ${JSON.stringify(name)})`);
    flags.set(name, value);
  }
  const dir = flags.get('--dir');
  if (!dir || !dir.startsWith('/')) throw new Error('catty-node: --dir must be an absolute path');
  const logLevel = flags.get('--log-level') ?? 'info';
  if (!LEVELS.includes(logLevel)) throw new Error(`catty-node: --log-level must be one of ${LEVELS.join(', ')}`);
  const idleExitMs = Number(flags.get('--idle-exit-ms') ?? DEFAULT_IDLE_EXIT_MS);
  if (!Number.isInteger(idleExitMs) || idleExitMs < 0) throw new Error('catty-node: --idle-exit-ms must be a whole number of milliseconds');
  return { dir, logLevel, idleExitMs };
}

/** Resolves with the exit code once the node has stopped. */
export async function main(argv: string[]): Promise<number> {
  const { dir, logLevel, idleExitMs } = parseArgs(argv);
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
    node = await startNodeServer({ nodeDir: dir, logger, idleExitMs, onIdle: () => shutdown('idle: no session and no API'), onOrphaned: () => shutdown('orphaned: the control socket is gone') });
  } catch (err) {
    claimed.lock.release();
    throw err;
  }
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => shutdown(sig));
  // Started detached by the API: a hang-up of its terminal is not ours.
  process.on('SIGHUP', () => {});
  logger.info({ socket: node.socketPath, instance: node.instance }, 'catty-node listening');
  process.stdout.write(`${NODE_READY_PREFIX}${node.socketPath}\n`);
  return stopped;
}
