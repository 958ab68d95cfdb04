/**
 * infra/Caddyfile in front of the API, as a deployment runs it: the laptop's traffic is HTTPS and
 * WSS only — create a session, upload through the API's relay, and a terminal round trip over
 * WSS to a runtime in a Docker container. Caddy serves `localhost` with its internal CA (the
 * real file gets public certificates for CATTY_DOMAIN); only the upstream addresses and the
 * listening ports are changed, in a global options block and two substitutions.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import type Docker from 'dockerode';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreatedSession } from '../../api/contract/schemas.js';
import { startTestApi, type TestApi } from '../helpers/api.js';
import { SESSION_IMAGE, buildSessionImage, probeDocker } from '../helpers/docker.js';
import { freeLoopbackPort } from '../helpers/loopback.js';
import { REPO_ROOT } from '../helpers/paths.js';
import { waitFor } from '../helpers/wait.js';
import { buildZip } from '../helpers/runtime-zip.js';
import { createApiClient, type ApiClient } from '../../api/contract/client.js';
import { routes } from '../../api/contract/routes.js';
import { RuntimePath } from '../../session-runtime/wire/protocol.js';

const probe = await probeDocker('docker TLS');
const hasCaddy = spawnSync('caddy', ['version'], { stdio: 'ignore' }).status === 0;
if (probe.ok && !hasCaddy) {
  if (process.env.CI === 'true') throw new Error('docker TLS: caddy is not installed; CI=true requires it (apt-get install caddy)');
  console.log('[docker TLS] skipped: caddy is not installed (apt-get install caddy)');
}

describe.skipIf(!probe.ok || !hasCaddy)('HTTPS and WSS through infra/Caddyfile', () => {
  const docker = (probe as { docker: Docker }).docker;
  let api: TestApi;
  let caddy: ChildProcess;
  let caddyLog = '';
  let dir: string;
  let base: string;
  let ca: Buffer;
  /** The contract's client, over HTTPS through Caddy, trusting only `ca`. */
  let client: ApiClient;
  const sessionIds: string[] = [];

  /** One HTTPS request trusting only Caddy's local CA. */
  function request(method: string, urlPath: string, body?: Buffer, headers: Record<string, string> = {}): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
      const req = https.request(`${base}${urlPath}`, { method, ca, headers: { authorization: `Bearer ${api.token}`, ...headers } }, (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  beforeAll(async () => {
    buildSessionImage();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'catty-tls-'));
    const [apiPort, httpPort, httpsPort] = [await freeLoopbackPort(), await freeLoopbackPort(), await freeLoopbackPort()];
    base = `https://localhost:${httpsPort}`;
    const global = `{\n\tadmin off\n\thttp_port ${httpPort}\n\thttps_port ${httpsPort}\n\tdefault_bind 127.0.0.1\n\tskip_install_trust\n}\n`;
    const caddyfile = fs
      .readFileSync(path.join(REPO_ROOT, 'infra/Caddyfile'), 'utf8')
      .replace('reverse_proxy api:8787', `reverse_proxy 127.0.0.1:${apiPort}`)
      .replace('reverse_proxy minio:9000', `reverse_proxy 127.0.0.1:${await freeLoopbackPort()}`);
    fs.writeFileSync(path.join(dir, 'Caddyfile'), global + caddyfile);
    caddy = spawn('caddy', ['run', '--config', path.join(dir, 'Caddyfile'), '--adapter', 'caddyfile'], {
      env: { PATH: process.env.PATH, HOME: dir, XDG_DATA_HOME: path.join(dir, 'data'), XDG_CONFIG_HOME: path.join(dir, 'config'), CATTY_DOMAIN: 'localhost' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    caddy.stdout!.on('data', (d: Buffer) => (caddyLog += d.toString()));
    caddy.stderr!.on('data', (d: Buffer) => (caddyLog += d.toString()));
    const root = path.join(dir, 'data/caddy/pki/authorities/local/root.crt');
    ca = await waitFor(() => (fs.existsSync(root) ? fs.readFileSync(root) : null), `Caddy's local CA (${caddyLog.slice(-300)})`, { timeoutMs: 30_000, everyMs: 100 });
    // The helper's device login follows the public (https) verification URL with the global
    // fetch, which cannot be given Caddy's CA; certificate checks are off for that step only.
    // Every request this test asserts on trusts exactly `ca`.
    process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';
    try {
      api = await startTestApi({
        env: {
          CATTY_PROVISIONER: 'docker',
          CATTY_DOCKER_IMAGE: SESSION_IMAGE,
          CATTY_API_LISTEN: `127.0.0.1:${apiPort}`,
          CATTY_PUBLIC_URL: base,
          CATTY_HEALTH_TIMEOUT_MS: '60000',
        },
      });
    } finally {
      delete process.env.NODE_TLS_REJECT_UNAUTHORIZED;
    }
    client = createApiClient({
      baseUrl: base,
      token: () => api.token,
      transport: async (url, init) => {
        const answer = await request(init.method, url.slice(base.length), init.body === undefined ? undefined : Buffer.from(init.body), init.headers);
        return { status: answer.status, text: async () => answer.text };
      },
    });
    await waitFor(() => client.send(routes.me).then((r) => r.status === 200, () => false), 'the API through Caddy', { timeoutMs: 30_000, everyMs: 200 });
  });

  afterAll(async () => {
    for (const id of sessionIds) await docker.getContainer(`catty-session-${id}`).remove({ force: true }).catch(() => undefined);
    for (const id of sessionIds) await docker.getVolume(`catty-ws-${id}`).remove().catch(() => undefined);
    await api?.close();
    if (caddy && caddy.exitCode === null) {
      caddy.kill('SIGTERM');
      await new Promise((resolve) => caddy.once('exit', resolve));
    }
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('creates, uploads and attaches over HTTPS/WSS only', async () => {
    const created = await client.send(routes.createSession, { body: { cmd: 'echo started; cat' } });
    expect(created.status, JSON.stringify(created.json)).toBe(201);
    const s = CreatedSession.parse(created.json);
    sessionIds.push(s.id);
    expect(s.connectUrl.startsWith(`${base}/`)).toBe(true);

    const connectPath = s.connectUrl.slice(base.length);
    const zip = buildZip([{ name: 'hello.txt', data: 'over tls\n' }]);
    const up = await request('POST', `${connectPath}${RuntimePath.upload}`, zip, { authorization: `Bearer ${s.connectToken}`, 'content-type': 'application/zip' });
    expect(up.status, up.text).toBe(200);

    const ws = new WebSocket(`${s.connectUrl.replace(/^https/, 'wss')}${RuntimePath.connect}`, { ca, headers: { authorization: `Bearer ${s.connectToken}` } });
    let output = '';
    let hello = false;
    ws.on('message', (data: Buffer, isBinary) => {
      if (isBinary) output += data.toString();
      else if ((JSON.parse(data.toString()) as { type: string }).type === 'hello') hello = true;
    });
    try {
      await new Promise<void>((resolve, reject) => ws.once('open', resolve).once('error', reject));
      await waitFor(() => hello && output.includes('started'), `hello and "started" over WSS (got ${JSON.stringify(output)})`, { timeoutMs: 30_000 });
      ws.send(Buffer.from('through-caddy\r'), { binary: true });
      await waitFor(() => output.split('through-caddy').length > 2, 'the echo of cat over WSS', { timeoutMs: 15_000 });
    } finally {
      ws.close();
    }
    expect((await client.call(routes.stop, { params: { ref: s.label } })).status).toBe('stopped');
    console.log('[docker TLS] 1 docker test ran');
  });
});
