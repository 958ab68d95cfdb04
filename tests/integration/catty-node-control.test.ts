/**
 * catty-node's control socket as an attacker on the host would try it (SECURITY README case 51):
 * the built `catty-node`, a real process, on its real Unix socket. Only its owner's uid reaches
 * it (0600 in a 0700 directory; another uid is refused by the kernel); every malformed request —
 * an unknown route or method, a session id that is a path, a body that is not JSON, too large,
 * with fields the contract does not have, a header value that would split a request — is a 4xx
 * naming what is wrong without echoing a value; the node keeps serving; the credentials it is
 * given are never answered back or written to its log.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createNodeClient } from '../../api/node/client.js';
import { NODE_PROTOCOL, NODE_READY_PREFIX, nodeRoutes } from '../../api/node/contract.js';
import { controlSocketOf, logFileOf } from '../../api/node/paths.js';
import { policy } from '../helpers/egress.js';
import { onCleanup } from '../helpers/cleanup.js';
import { REPO_ROOT } from '../helpers/paths.js';
import { tempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/wait.js';

const NODE_BIN = path.join(REPO_ROOT, 'dist/api/node/bin.js');
const SECRET = 'sk-ant-api03-node-control-test-secret-value';

async function startNode(): Promise<{ dir: string; socket: string; pid: number }> {
  const dir = path.join(tempDir('node-ctl'), 'node');
  const proc = spawn(process.execPath, [NODE_BIN, '--dir', dir, '--log-level', 'debug'], { stdio: ['ignore', 'pipe', 'pipe'] });
  onCleanup(() => void proc.kill('SIGKILL'));
  let out = '';
  let err = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  await waitFor(() => {
    if (proc.exitCode !== null) throw new Error(`catty-node exited ${proc.exitCode}: ${err}`);
    return out.includes(NODE_READY_PREFIX);
  }, 'catty-node to listen', { timeoutMs: 15_000, everyMs: 20 });
  expect(out).toBe(`${NODE_READY_PREFIX}${controlSocketOf(dir)}\n`);
  return { dir, socket: controlSocketOf(dir), pid: proc.pid! };
}

/** One raw request; resolves with the status and the body text. */
function raw(socketPath: string, method: string, urlPath: string, body?: string | Buffer, headers: Record<string, string> = {}): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, method, path: urlPath, headers: { 'content-type': 'application/json', ...headers }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('catty-node control socket (51)', () => {
  it('51: reachable only by its owner — the socket 0600, its directory 0700, another uid refused', async () => {
    const { dir, socket } = await startNode();
    expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
    const stat = fs.lstatSync(socket);
    expect(stat.isSocket()).toBe(true);
    expect(stat.mode & 0o777).toBe(0o600);
    expect(stat.uid).toBe(process.getuid!());
    // As another user (root here can switch to nobody; skipped where it cannot).
    const probe = `require('net').connect(${JSON.stringify(socket)}).on('connect',()=>{console.log('CONNECTED');process.exit(0)}).on('error',e=>{console.log(e.code);process.exit(0)})`;
    if (process.getuid!() === 0) {
      const other = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '-e', probe], { encoding: 'utf8' });
      expect(other.stdout.trim()).toBe('EACCES');
    }
    const mine = spawnSync(process.execPath, ['-e', probe], { encoding: 'utf8' });
    expect(mine.stdout.trim()).toBe('CONNECTED');
  });

  it('51: malformed requests are 4xx answers that name what is wrong and echo no value; the node keeps serving', async () => {
    const { socket, dir, pid } = await startNode();
    const put = (id: string, body: unknown) => raw(socket, 'PUT', `/v1/sessions/${id}`, typeof body === 'string' ? body : JSON.stringify(body));
    const good = { policy: policy('none'), credentials: { inject: [] } };
    const cases: Array<[string, Promise<{ status: number; text: string }>, number]> = [
      ['unknown route', raw(socket, 'GET', '/v1/nope'), 404],
      ['wrong method', raw(socket, 'POST', '/healthz'), 405],
      ['id that is a path', put('..%2F..%2Fetc', good), 400],
      ['id with a dot', put('a.b', good), 400],
      ['id in capitals', put('ABC', good), 400],
      ['id too long', put('a'.repeat(65), good), 400],
      ['bad percent-encoding', put('%E0%A4%A', good), 400],
      ['not JSON', put('s1', '{"policy":'), 400],
      ['JSON but not an object', put('s1', '[1,2]'), 400],
      ['an unknown field', put('s1', { ...good, extra: 1 }), 400],
      ['no credentials', put('s1', { policy: policy('none') }), 400],
      ['an unknown preset', put('s1', { ...good, policy: { preset: 'everything', allow: [] } }), 400],
      ['an uncanonical allow host', put('s1', { ...good, policy: { preset: 'none', allow: [{ host: 'Example.COM', ports: [443] }] } }), 400],
      ['a header value that splits a request', put('s1', { ...good, credentials: { inject: [{ host: 'h.example', port: 443, header: 'authorization', value: `Bearer ${SECRET}\r\nx-evil: 1` }] } }), 400],
      ['a header name with a space', put('s1', { ...good, credentials: { inject: [{ host: 'h.example', port: 443, header: 'x evil', value: SECRET }] } }), 400],
      ['a model base URL that is not a URL', put('s1', { ...good, credentials: { model: { apiKey: SECRET, baseUrl: 'not a url' }, inject: [] } }), 400],
      ['a body over 256 KB', put('s1', JSON.stringify({ ...good, pad: 'x'.repeat(300 * 1024) })), 413],
      ['a policy for no session', raw(socket, 'PUT', '/v1/sessions/s9/policy', JSON.stringify({ policy: policy('full') })), 404],
      ['a negative ack', raw(socket, 'POST', '/v1/refusals/ack', JSON.stringify({ upTo: -1 })), 400],
    ];
    for (const [what, answer, status] of cases) {
      const { status: got, text } = await answer;
      expect(got, `${what}: ${text}`).toBe(status);
      const body = JSON.parse(text) as { error: { code: string; message: string } };
      expect(body.error.message.length, what).toBeGreaterThan(0);
      expect(text, what).not.toContain(SECRET);
    }
    // A header that lies about a huge body is refused before it is read.
    expect((await raw(socket, 'PUT', '/v1/sessions/s1', '{}', { 'content-length': String(10 * 1024 * 1024) }).catch(() => ({ status: 413, text: '' }))).status).toBe(413);

    // Still serving, nothing opened by any of that.
    const client = createNodeClient(socket);
    expect(await client.call(nodeRoutes.health)).toMatchObject({ protocol: NODE_PROTOCOL, pid, sessions: 0 });
    expect(fs.readdirSync(path.join(dir, 'egress'))).toEqual([]);

    // A good one: the listener opens; what is listed says whether it has credentials, never what they are.
    const opened = await client.call(nodeRoutes.openSession, { id: 's1', body: { policy: policy('none'), credentials: { model: { apiKey: SECRET }, inject: [] } } });
    expect(opened.egressDir).toBe(path.join(dir, 'egress', 's1'));
    expect(fs.statSync(opened.egressDir).mode & 0o777).toBe(0o700);
    expect(fs.lstatSync(path.join(opened.egressDir, 'proxy.sock')).mode & 0o777).toBe(0o600);
    await expect(client.call(nodeRoutes.openSession, { id: 's1', body: good })).rejects.toThrow(/409/);
    const listed = await raw(socket, 'GET', '/v1/sessions');
    expect(JSON.parse(listed.text)).toEqual({ sessions: [{ id: 's1', policy: policy('none'), credentials: true }], stale: [] });
    expect(listed.text).not.toContain(SECRET);
    await client.call(nodeRoutes.closeSession, { id: 's1' });
    expect(fs.existsSync(opened.egressDir)).toBe(false);
    const log = await waitFor(() => fs.readFileSync(logFileOf(dir), 'utf8').includes('session egress closed') && fs.readFileSync(logFileOf(dir), 'utf8'), 'the node to log the close');
    expect(log).toContain('session egress opened');
    expect(log).not.toContain(SECRET);
  });
});
