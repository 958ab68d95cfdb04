/**
 * Finding the host's catty-node, or starting one: the API asks `<nodeDir>/control.sock` for
 * /healthz; when nothing answers it spawns `catty-node` DETACHED (its own process group, stdin
 * closed, stderr to the node's log; it outlives the API — SECURITY.md 35) and waits for its
 * ready line on stdout, then stops reading it. Two APIs racing to start one are settled by the
 * node's pid file: the second node exits, and its API finds the first.
 *
 * `inProcess` runs the same server in this process behind the same client (for tests that
 * start many APIs and do not care where the proxy runs; never the default).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../logger.js';
import { packageRoot } from '../package-root.js';
import { createNodeClient, type NodeClient } from './client.js';
import { NODE_PROTOCOL, NODE_READY_PREFIX, nodeRoutes, type Health } from './contract.js';
import { controlSocketOf, logFileOf } from './paths.js';
import { ensurePrivateDir, startNodeServer, type NodeServer } from './server.js';

const READY_TIMEOUT_MS = 15_000;
const PROBE_TIMEOUT_MS = 3_000;

/** What the node's environment keeps of the API's: where to find things and whom to trust,
 * nothing of the API's own settings or keys — nor the cluster settings (CATTY_NODE_TLS_DIR is
 * the API's client material there): the host's node is never a cluster node. */
const PASSED_ENV = /^(PATH|HOME|TMPDIR|LANG|LC_[A-Z]+|TZ|NODE_EXTRA_CA_CERTS|SSL_CERT_FILE|SSL_CERT_DIR|CATTY_NODE_[A-Z_]+)$/;
const CLUSTER_ENV = /^CATTY_NODE_(TLS_DIR|LISTEN_TLS|PORT|DIR|DOCKER_SOCKET)$/;

export interface NodeLaunchOptions {
  nodeDir: string;
  logger: Logger;
  logLevel?: string;
  /** Run the node's server inside this process (tests). */
  inProcess?: boolean;
}

export interface NodeConnection {
  client: NodeClient;
  health: Health;
  /** Set when this call started the node. */
  started: boolean;
  /** The in-process server, when there is one (closed with the API). */
  local?: NodeServer;
}

export const nodeBinPath = (root = packageRoot()): string => join(root, 'dist', 'api', 'node', 'bin.js');

/** The running node's health, or null when none answers. A node of another protocol is an error. */
export async function probeNode(client: NodeClient): Promise<Health | null> {
  let health: Health;
  try {
    health = await client.call(nodeRoutes.health, { timeoutMs: PROBE_TIMEOUT_MS });
  } catch {
    return null;
  }
  if (health.protocol !== NODE_PROTOCOL) {
    throw new Error(`the catty-node serving ${client.address} (pid ${health.pid}) speaks protocol ${health.protocol}, not ${NODE_PROTOCOL}: stop it (kill ${health.pid}; its sessions lose their network until it is started again) and start catty-api again`);
  }
  return health;
}

export async function connectOrStartNode(options: NodeLaunchOptions): Promise<NodeConnection> {
  const client = createNodeClient(controlSocketOf(options.nodeDir));
  const running = await probeNode(client);
  if (running) return { client, health: running, started: false };
  ensurePrivateDir(options.nodeDir);
  if (options.inProcess) {
    const local = await startNodeServer({ nodeDir: options.nodeDir, logger: options.logger.child({ component: 'catty-node' }) });
    return { client, health: (await probeNode(client))!, started: true, local };
  }
  await spawnNode(options);
  const health = await probeNode(client);
  if (!health) throw new Error(`catty-node started but does not answer on ${client.address}; see ${logFileOf(options.nodeDir)}`);
  options.logger.info({ pid: health.pid, socket: client.address }, 'catty-node started');
  return { client, health, started: true };
}

async function spawnNode(options: NodeLaunchOptions): Promise<void> {
  const logFile = logFileOf(options.nodeDir);
  const log = fs.openSync(logFile, 'a', 0o600);
  const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([name]) => PASSED_ENV.test(name) && !CLUSTER_ENV.test(name)));
  const args = [nodeBinPath(), '--dir', options.nodeDir, '--log-level', options.logLevel ?? 'info'];
  const child = spawn(process.execPath, args, { detached: true, stdio: ['ignore', 'pipe', log], env });
  fs.closeSync(log);
  try {
    await new Promise<void>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`catty-node did not start within ${READY_TIMEOUT_MS} ms; see ${logFile}`)), READY_TIMEOUT_MS);
      const done = (err?: Error): void => {
        clearTimeout(timer);
        child.off('exit', onExit);
        if (err) reject(err);
        else resolve();
      };
      const onExit = (code: number | null): void => {
        // Another node won the race for the directory: the caller finds that one.
        if (code === 3) done();
        else done(new Error(`catty-node exited (${code ?? 'signal'}) before it was ready; see ${logFile}: ${tail(logFile)}`));
      };
      child.on('exit', onExit);
      child.on('error', (err) => done(err));
      child.stdout!.setEncoding('utf8');
      child.stdout!.on('data', (text: string) => {
        out += text;
        if (out.includes(`${NODE_READY_PREFIX}`) && out.includes('\n')) done();
      });
    });
  } finally {
    child.stdout!.destroy();
    child.unref();
  }
}

function tail(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').trim().split('\n').slice(-3).join(' | ').slice(-600);
  } catch {
    return '(no log)';
  }
}
