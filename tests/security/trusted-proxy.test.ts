/**
 * Security case 67: behind the TLS front every socket is the front's, so the sign-in throttle's
 * per-address count (case 58) keys on X-Forwarded-For when the socket is a trusted proxy
 * (CATTY_TRUSTED_PROXIES, api/middleware/client-address.ts). A header the client writes must
 * neither let an attacker spread its guesses over many buckets nor spend another client's.
 * The built catty-api behind real Caddy (Debian's 2.6, a generated Caddyfile on loopback, its
 * reverse_proxy defaults as in infra/Caddyfile*) and behind a node proxy that appends to the
 * client's header; clients from distinct loopback addresses (127.0.0.x), as distinct machines.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../helpers/api.js';
import { closeServer, freeLoopbackPort, listenLoopback } from '../helpers/loopback.js';
import { signInClient } from '../helpers/sign-in-client.js';
import { waitFor } from '../helpers/wait.js';

const hasCaddy = spawnSync('caddy', ['version'], { stdio: 'ignore' }).status === 0;
if (!hasCaddy) {
  if (process.env.CI === 'true') throw new Error('trusted proxy: caddy is not installed; CI=true requires it (apt-get install caddy)');
  console.log('[67] the Caddy cases skipped: caddy is not installed (apt-get install caddy)');
}

/** Where the node proxy connects to the API from: the only address of it the API trusts. */
const NODE_PROXY_FROM = '127.0.0.10';
const PER_ADDRESS = 100;

/** A browser at `from` using `base` (tests/helpers/sign-in-client.ts); login answers its status. */
async function browser(base: string, from: string) {
  const client = await signInClient(base, from);
  return {
    login: async (email: string, password: string, forwardedFor?: string): Promise<number> =>
      (await client.login(email, password, forwardedFor ? { 'x-forwarded-for': forwardedFor } : {})).status,
    close: () => client.close(),
  };
}

type Browser = Awaited<ReturnType<typeof browser>>;

/**
 * The attacker's 100 failed guesses (unknown emails, so no account is blocked), 16 at a time,
 * each with a forged X-Forwarded-For: half name the victim's address, half a new address each.
 * Returns the statuses counted, and the status of one guess more.
 */
async function exhaust(attacker: Browser, victimAddress: string): Promise<{ statuses: Record<number, number>; next: number }> {
  const statuses: Record<number, number> = {};
  let i = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (i < PER_ADDRESS) {
        const n = i++;
        const forged = n % 2 ? victimAddress : `203.0.113.${n}, 198.51.100.${n}`;
        const status = await attacker.login(`nobody-${n}@example.com`, 'guess', forged);
        statuses[status] = (statuses[status] ?? 0) + 1;
      }
    }),
  );
  return { statuses, next: await attacker.login('nobody-more@example.com', 'guess', '203.0.113.250') };
}

/** A proxy that appends the peer's address to the client's X-Forwarded-For, connecting from NODE_PROXY_FROM. */
async function appendingProxy(target: URL) {
  const server = http.createServer((req, res) => {
    const forwardedFor = [req.headers['x-forwarded-for'], req.socket.remoteAddress].filter(Boolean).join(', ');
    const upstream = http.request(
      { host: target.hostname, port: target.port, localAddress: NODE_PROXY_FROM, method: req.method, path: req.url, headers: { ...req.headers, 'x-forwarded-for': forwardedFor } },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  return { server, ...(await listenLoopback(server)) };
}

describe('67: the client address behind the TLS front', () => {
  let trusting: TestApi;
  let plain: TestApi;
  let caddy: ChildProcess | undefined;
  let caddyLog = '';
  let dir: string;
  const caddyUrl: { trusting: string; plain: string; echo: string } = { trusting: '', plain: '', echo: '' };
  let proxy: Awaited<ReturnType<typeof appendingProxy>>;
  let echo: http.Server;
  let echoed: { forwardedFor: string | undefined; from: string | undefined } | null = null;

  beforeAll(async () => {
    [trusting, plain] = await Promise.all([startTestApi({ env: { CATTY_TRUSTED_PROXIES: `127.0.0.1,${NODE_PROXY_FROM}` } }), startTestApi()]);
    proxy = await appendingProxy(new URL(trusting.url));
    // What Caddy sends upstream, seen by a plain server.
    echo = http.createServer((req, res) => {
      echoed = { forwardedFor: req.headers['x-forwarded-for'] as string | undefined, from: req.socket.remoteAddress };
      res.end('ok');
    });
    const echoAt = await listenLoopback(echo);
    if (!hasCaddy) return;
    dir = mkdtempSync(join(tmpdir(), 'catty-caddy-'));
    const sites = { trusting: await freeLoopbackPort(), plain: await freeLoopbackPort(), echo: await freeLoopbackPort() };
    const upstreams = { trusting: new URL(trusting.url).host, plain: new URL(plain.url).host, echo: `127.0.0.1:${echoAt.port}` };
    const site = (name: keyof typeof sites) => `http://127.0.0.1:${sites[name]} {\n\treverse_proxy ${upstreams[name]} {\n\t\tflush_interval -1\n\t}\n}\n`;
    writeFileSync(join(dir, 'Caddyfile'), `{\n\tadmin off\n\tauto_https off\n}\n${site('trusting')}${site('plain')}${site('echo')}`);
    caddy = spawn('caddy', ['run', '--config', join(dir, 'Caddyfile'), '--adapter', 'caddyfile'], {
      env: { PATH: process.env.PATH, HOME: dir, XDG_DATA_HOME: join(dir, 'data'), XDG_CONFIG_HOME: join(dir, 'config') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    caddy.stdout!.on('data', (d: Buffer) => (caddyLog += d.toString()));
    caddy.stderr!.on('data', (d: Buffer) => (caddyLog += d.toString()));
    for (const name of ['trusting', 'plain', 'echo'] as const) caddyUrl[name] = `http://127.0.0.1:${sites[name]}`;
    await waitFor(
      async () => {
        if (caddy!.exitCode !== null) throw new Error(`caddy exited ${caddy!.exitCode}: ${caddyLog.slice(-2000)}`);
        return (await fetch(`${caddyUrl.echo}/`).catch(() => null))?.ok ? true : null;
      },
      'caddy to listen',
      { timeoutMs: 20_000, everyMs: 100 },
    );
  }, 120_000);

  afterAll(async () => {
    if (caddy && caddy.exitCode === null) {
      const exited = new Promise((resolve) => caddy!.once('exit', resolve));
      caddy.kill('SIGTERM');
      await exited;
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
    if (proxy) await closeServer(proxy.server);
    if (echo) await closeServer(echo);
    await Promise.all([trusting?.close(), plain?.close()]);
  });

  it.skipIf(!hasCaddy)("67: Caddy replaces the client's X-Forwarded-For with the address it saw", async () => {
    const client = http.request(`${caddyUrl.echo}/`, { localAddress: '127.0.0.9', headers: { 'x-forwarded-for': '203.0.113.7, 127.0.0.1' } });
    await new Promise<void>((resolve, reject) => client.on('response', (res) => res.resume().on('end', resolve)).on('error', reject).end());
    expect(echoed).toEqual({ forwardedFor: '127.0.0.9', from: '127.0.0.1' });
  });

  it.skipIf(!hasCaddy)('67: through Caddy, an attacker spends only its own address: another client still signs in', async () => {
    const attacker = await browser(caddyUrl.trusting, '127.0.0.2');
    const victim = await browser(caddyUrl.trusting, '127.0.0.3');
    const { statuses, next } = await exhaust(attacker, '127.0.0.3');
    // Every forged header ignored: one bucket, the attacker's real address.
    expect({ statuses, next }).toEqual({ statuses: { 401: PER_ADDRESS }, next: 429 });
    expect(await victim.login(trusting.email, trusting.password)).toBe(303);
    attacker.close();
    victim.close();
  }, 120_000);

  it('67: through a proxy that appends to the header, the forged entries on the left are never read', async () => {
    const attacker = await browser(proxy.url, '127.0.0.4');
    const victim = await browser(proxy.url, '127.0.0.5');
    const { statuses, next } = await exhaust(attacker, '127.0.0.5');
    expect({ statuses, next }).toEqual({ statuses: { 401: PER_ADDRESS }, next: 429 });
    expect(await victim.login(trusting.email, trusting.password)).toBe(303);
    attacker.close();
    victim.close();
  }, 120_000);

  it('67: a client that is not a trusted proxy is its socket address, whatever header it sends', async () => {
    const attacker = await browser(trusting.url, '127.0.0.6');
    const { statuses, next } = await exhaust(attacker, '127.0.0.7');
    expect({ statuses, next }).toEqual({ statuses: { 401: PER_ADDRESS }, next: 429 });
    const other = await browser(trusting.url, '127.0.0.7');
    expect(await other.login(trusting.email, trusting.password)).toBe(303);
    attacker.close();
    other.close();
  }, 120_000);

  it.skipIf(!hasCaddy)('67: without CATTY_TRUSTED_PROXIES (the old behaviour): behind Caddy everyone shares its address, one attacker locks all out', async () => {
    const attacker = await browser(caddyUrl.plain, '127.0.0.2');
    const victim = await browser(caddyUrl.plain, '127.0.0.3');
    const { statuses, next } = await exhaust(attacker, '127.0.0.3');
    expect({ statuses, next }).toEqual({ statuses: { 401: PER_ADDRESS }, next: 429 });
    expect(await victim.login(plain.email, plain.password)).toBe(429);
    attacker.close();
    victim.close();
  }, 120_000);
});
