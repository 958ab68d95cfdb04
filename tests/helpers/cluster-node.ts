/**
 * A cluster-mode catty-node for tests (issue 22): certificates from the built `catty-node
 * certs`, the built node on 127.0.0.1:0 with them, and what the API does through it — a
 * WebSocket to a machine's runtime over the node's mutual TLS.
 */
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import WebSocket from 'ws';
import type { RuntimeEndpoint } from '../../session-runtime/wire/runtime-address.js';
import { runtimeUrl } from '../../session-runtime/wire/runtime-address.js';
import { onCleanup } from './cleanup.js';
import { REPO_ROOT } from './paths.js';
import { waitFor } from './wait.js';

export const NODE_BIN = path.join(REPO_ROOT, 'dist/api/node/bin.js');

export interface ClusterCerts {
  /** The node's --tls-dir for 127.0.0.1. */
  nodeDir: string;
  /** The API's CATTY_NODE_TLS_DIR. */
  apiDir: string;
}

/** `catty-node certs --out <root>/out --ca-dir <root>/ca --node 127.0.0.1 --api`. */
export function makeCerts(root: string, name = 'out'): ClusterCerts {
  const out = path.join(root, name);
  const run = spawnSync(process.execPath, [NODE_BIN, 'certs', '--out', out, '--ca-dir', path.join(root, `${name}-ca`), '--node', '127.0.0.1', '--api'], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`catty-node certs failed: ${run.stderr}`);
  return { nodeDir: path.join(out, 'nodes', '127.0.0.1'), apiDir: path.join(out, 'api') };
}

export interface ClusterNodeProcess {
  url: string;
  pid: number;
  stderr(): string;
}

/** The built catty-node in cluster mode on 127.0.0.1:0; killed when the test ends. */
export async function startClusterNode(tlsDir: string, dir: string, env: Record<string, string> = {}): Promise<ClusterNodeProcess> {
  const proc = spawn(process.execPath, [NODE_BIN, '--listen-tls', '127.0.0.1:0', '--tls-dir', tlsDir, '--dir', dir, '--log-level', 'debug'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
  });
  onCleanup(() => void proc.kill('SIGKILL'));
  let out = '';
  let err = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const url = await waitFor(
    () => {
      if (proc.exitCode !== null) throw new Error(`catty-node exited ${proc.exitCode}: ${err}`);
      return /^catty-node listening on (https:\/\/\S+)$/m.exec(out)?.[1];
    },
    'the cluster node to listen',
    { timeoutMs: 15_000, everyMs: 20 },
  );
  return { url, pid: proc.pid!, stderr: () => err };
}

/** A terminal through the node as the API's relay opens one: wss, mutual TLS, the base path kept. */
export function runtimeWs(endpoint: RuntimeEndpoint, token: string, query = 'cols=80&rows=24'): { ws: WebSocket; text(): string; opened: Promise<void> } {
  const url = runtimeUrl(endpoint, `/connect?${query}`);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  const ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}` }, ...(endpoint.tls ?? {}) });
  let text = '';
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (isBinary) text += data.toString('utf8');
  });
  ws.on('error', () => undefined);
  const opened = new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
    ws.once('error', reject);
  });
  return { ws, text: () => text, opened };
}
