/**
 * catty-node lets a machine that runs as another uid (a Docker container's user) into its own
 * session's egress directory, and nothing more: the built `catty-node`, a real process; the
 * machine's view made as the engine makes it (the directory bound into a mount namespace of its
 * own, then that uid). It connects to proxy.sock and reads ca.pem, cannot list the directory;
 * on the host, that uid and others are still kept out by the 0700 egress root above it. A node
 * started again after a SIGKILL listens in the same, shared directory again, and shares it again.
 * A machine uid that is not one (root, negative, fractional, too large) is a 400.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createNodeClient } from '../../api/node/client.js';
import { NODE_READY_PREFIX, nodeRoutes } from '../../api/node/contract.js';
import { controlSocketOf, egressRootOf } from '../../api/node/paths.js';
import { policy } from '../helpers/egress.js';
import { onCleanup } from '../helpers/cleanup.js';
import { REPO_ROOT } from '../helpers/paths.js';
import { tempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/wait.js';

const NODE_BIN = path.join(REPO_ROOT, 'dist/api/node/bin.js');
const MACHINE_UID = 1000;
const asRoot = process.getuid?.() === 0;
if (!asRoot) console.log('[catty-node] machine uid tests skipped: giving a socket to another uid needs root');

async function startNode(dir: string): Promise<{ pid: number }> {
  const proc = spawn(process.execPath, [NODE_BIN, '--dir', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  onCleanup(() => void proc.kill('SIGKILL'));
  let out = '';
  let err = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  await waitFor(() => {
    if (proc.exitCode !== null) throw new Error(`catty-node exited ${proc.exitCode}: ${err}`);
    return out.includes(NODE_READY_PREFIX);
  }, 'catty-node to listen', { timeoutMs: 15_000, everyMs: 20 });
  return { pid: proc.pid! };
}

/** As `uid`, what it gets of the egress directory: bound at `view` in a mount namespace of its own
 * when `bind` (a container's view), else at its host path. One word each: ok or the error code. */
function tryAs(uid: number, dir: string, bind: boolean): { connect: string; ca: string; list: string } {
  const view = bind ? tempDir('egress-view') : dir;
  const script = `
    const fs = require('fs'), net = require('net'), dir = ${JSON.stringify(view)};
    const code = (f) => { try { f(); return 'ok'; } catch (e) { return e.code; } };
    const ca = code(() => fs.readFileSync(dir + '/ca.pem'));
    const list = code(() => fs.readdirSync(dir));
    net.connect(dir + '/proxy.sock').on('connect', function () { this.destroy(); done('ok'); }).on('error', (e) => done(e.code));
    function done(connect) { console.log(JSON.stringify({ connect, ca, list })); }`;
  const as = ['setpriv', `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', process.execPath, '-e', script];
  const res = bind
    ? spawnSync('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', 'mount --bind -o ro "$1" "$2" && shift 2 && exec "$@"', 'sh', dir, view, ...as], { encoding: 'utf8' })
    : spawnSync(as[0]!, as.slice(1), { encoding: 'utf8' });
  if (res.status !== 0) throw new Error(`as uid ${uid}: ${res.stderr}`);
  return JSON.parse(res.stdout) as { connect: string; ca: string; list: string };
}

const body = (machineUid?: number) => ({
  policy: policy('none', 'h.example:443'),
  credentials: { inject: [{ host: 'h.example', port: 443, header: 'authorization', value: 'Bearer x' }] },
  ...(machineUid !== undefined ? { machineUid } : {}),
});

describe.skipIf(!asRoot)('catty-node: a session directory for a machine of another uid', () => {
  it('gives the machine its socket and CA certificate only; other users stay out; again after a node restart', async () => {
    const nodeDir = path.join(tempDir('node-uid'), 'node');
    const first = await startNode(nodeDir);
    const client = createNodeClient(controlSocketOf(nodeDir));
    const { egressDir } = await client.call(nodeRoutes.openSession, { id: 's1', body: body(MACHINE_UID) });
    expect(egressDir).toBe(path.join(egressRootOf(nodeDir), 's1'));

    const check = (): void => {
      expect(fs.statSync(egressRootOf(nodeDir)).mode & 0o777).toBe(0o700);
      expect(fs.statSync(egressDir).mode & 0o777).toBe(0o711);
      expect(fs.statSync(egressDir).uid).toBe(0);
      const socket = fs.lstatSync(path.join(egressDir, 'proxy.sock'));
      expect([socket.isSocket(), socket.uid, socket.mode & 0o777]).toEqual([true, MACHINE_UID, 0o600]);
      const ca = fs.lstatSync(path.join(egressDir, 'ca.pem'));
      expect([ca.uid, ca.mode & 0o777]).toEqual([0, 0o644]);
      // The machine's view: its socket and the CA, not a listing.
      expect(tryAs(MACHINE_UID, egressDir, true)).toEqual({ connect: 'ok', ca: 'ok', list: 'EACCES' });
      // Another uid given the same view connects to nothing (the socket is the machine's).
      expect(tryAs(65534, egressDir, true).connect).toBe('EACCES');
      // On the host, the egress root keeps out every other user — the machine's uid too.
      expect(tryAs(MACHINE_UID, egressDir, false)).toEqual({ connect: 'EACCES', ca: 'EACCES', list: 'EACCES' });
    };
    check();

    // The node dies; one started again listens in the same directory (what the machine bound).
    process.kill(first.pid, 'SIGKILL');
    await waitFor(() => !fs.existsSync(`/proc/${first.pid}`) || fs.readFileSync(`/proc/${first.pid}/stat`, 'utf8').includes(') Z '), 'the node to die');
    await startNode(nodeDir);
    const again = createNodeClient(controlSocketOf(nodeDir));
    expect((await again.call(nodeRoutes.listSessions)).stale).toEqual(['s1']);
    expect((await again.call(nodeRoutes.openSession, { id: 's1', body: body(MACHINE_UID) })).egressDir).toBe(egressDir);
    check();

    // Without a machine uid the directory stays the node's alone.
    await again.call(nodeRoutes.openSession, { id: 's2', body: body() });
    const own = path.join(egressRootOf(nodeDir), 's2');
    expect(fs.statSync(own).mode & 0o777).toBe(0o700);
    expect(fs.lstatSync(path.join(own, 'proxy.sock')).uid).toBe(0);
  });

  it('a machine uid that is not one is a 400, and opens nothing', async () => {
    const nodeDir = path.join(tempDir('node-uid'), 'node');
    await startNode(nodeDir);
    const client = createNodeClient(controlSocketOf(nodeDir));
    for (const machineUid of [0, -1, 1.5, 2 ** 31, '1000']) {
      await expect(client.call(nodeRoutes.openSession, { id: 's1', body: { ...body(), machineUid: machineUid as number } }), String(machineUid)).rejects.toThrow(/400.*machineUid/);
    }
    expect((await client.call(nodeRoutes.listSessions)).sessions).toEqual([]);
  });
});
