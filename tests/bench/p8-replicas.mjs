// P8 — shared mode: P7's load (20 sessions each printing 100 KB/s to an attached `catty
// connect`) on two catty-api replicas (CATTY_MODE=shared) on one Postgres and one `catty-api
// s3-server`, behind a round-robin TCP proxy, sessions on Docker; measured: session create
// (POST /v1/sessions until running, p50) and GET /v1/sessions (p99, from a process of its own).
// Baseline, same run, same load and provisioner: one catty-api on SQLite with the embedded S3,
// its terminals relayed the same way (CATTY_PUBLIC_URL set). Target: both ≤ 1.5× the baseline.
// Needs Docker (the catty-session:dev image), Postgres 15 binaries, and root (initdb as postgres).
// Measured here (2 cores, shared with other work; 10 creates, 200 lists each): create p50 2677 vs
// 2116 ms (1.27x), list p99 99.8 vs 86.1 ms (1.16x; p50 15.8 vs 8.5 ms); an earlier run on a
// busier machine 4013 vs 5969 ms (0.67x) and 208.9 vs 80.8 ms (2.59x). Creates are the container
// start under 20 busy sessions (1.3-5.9 s): the spread of one run is wider than the difference.
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { routes } from '../../dist/api/contract/routes.js';
import { ROOT, attached, deviceLogin, listLatencies, nowMs, quantile, run, tempDir, waitFor } from './lib.mjs';

const API_BIN = path.join(ROOT, 'dist/api/bin.js');
const PG_BIN = '/usr/lib/postgresql/15/bin';
const SESSIONS = 20;
const CREATES = 10;
const LISTS = 200;
const CHATTY = `node -e "const l='y'.repeat(1023)+'\\\\n'; setInterval(() => process.stdout.write(l), 10)"`;
const IMAGE = process.env.CATTY_SESSION_IMAGE ?? 'catty-session:dev';

const freePort = () =>
  new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

/** Round robin over `backends` (host, port), skipping one that refuses. */
async function roundRobin(backends) {
  let next = 0;
  const open = new Set();
  const server = net.createServer((client) => {
    client.pause();
    open.add(client);
    const attempt = (tried) => {
      const target = backends[next];
      next = (next + 1) % backends.length;
      const upstream = net.connect(target.port, target.host);
      upstream.once('connect', () => {
        open.add(upstream);
        client.pipe(upstream).on('error', () => undefined);
        upstream.pipe(client).on('error', () => undefined);
        client.on('close', () => upstream.destroy());
        upstream.on('close', () => client.destroy());
        client.resume();
      });
      upstream.once('error', () => (tried + 1 < backends.length ? attempt(tried + 1) : client.destroy()));
    };
    client.on('error', () => client.destroy());
    attempt(0);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${server.address().port}`, close: () => (server.close(), open.forEach((s) => s.destroy())) };
}

async function startProcess(args, env, what, pattern = /listening on (http:\/\/\S+)/) {
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const url = await waitFor(what, () => {
    if (child.exitCode !== null) throw new Error(`${what}: exited ${child.exitCode}: ${err.slice(-1500)}`);
    return pattern.exec(out)?.[1];
  }, 60_000, { everyMs: 20 });
  return { child, url };
}

function startPostgres(dir) {
  execFileSync('chown', ['postgres', dir]);
  const as = (prog, args) => execFileSync('runuser', ['-u', 'postgres', '--', path.join(PG_BIN, prog), ...args], { stdio: 'ignore' });
  as('initdb', ['--no-sync', '-A', 'trust', '-U', 'postgres', '-D', path.join(dir, 'data')]);
  return async () => {
    const port = await freePort();
    as('pg_ctl', ['-w', '-D', path.join(dir, 'data'), '-l', path.join(dir, 'log'), '-o', `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=${dir} -c fsync=off -c max_connections=200`, 'start']);
    return { url: `postgres://postgres@127.0.0.1:${port}/postgres`, stop: () => as('pg_ctl', ['-w', '-D', path.join(dir, 'data'), '-m', 'fast', 'stop']) };
  };
}

async function login(apiUrl, env, home) {
  const add = await run(process.execPath, [API_BIN, 'users', 'add', 'bench@example.com', '--password-stdin'], { env, input: 'bench-password-1\n' });
  if (add.code !== 0) throw new Error(`users add: ${add.stderr}`);
  const tokens = await deviceLogin(apiUrl, 'bench@example.com', 'bench-password-1');
  const { saveCredentials } = await import('../../dist/cli/config.js');
  const { createContext } = await import('../../dist/cli/context.js');
  const cattyHome = path.join(home, '.catty');
  saveCredentials(createContext({ env: { CATTY_HOME: cattyHome } }, { insecure: false, debug: false }, ROOT), {
    version: 1, apiUrl, accessToken: tokens.access_token, refreshToken: tokens.refresh_token, expiresAt: new Date(Date.now() + 3600_000).toISOString(),
  });
  return { token: tokens.access_token, cliEnv: { PATH: process.env.PATH, HOME: home, CATTY_HOME: cattyHome, LANG: 'C.UTF-8', TERM: 'xterm-256color' } };
}

/** Under P7's load on the deployment at `apiUrl`: create and list latencies. */
async function measure(apiUrl, token, cliEnv, cwd) {
  const create = async (cmd) => {
    const started = nowMs();
    const res = await fetch(`${apiUrl}/v1/sessions`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ cmd, upload: false }) });
    const body = await res.json();
    if (res.status !== 201 && res.status !== 200) throw new Error(`create answered ${res.status}: ${JSON.stringify(body)}`);
    return { label: body.label, ms: nowMs() - started };
  };
  const labels = [];
  const extra = [];
  try {
    return await underLoad(create, labels, extra, apiUrl, token, cliEnv, cwd);
  } finally {
    for (const label of [...labels, ...extra]) await fetch(`${apiUrl}/v1/sessions/${label}/stop`, { method: 'POST', headers: { authorization: `Bearer ${token}` } }).catch(() => undefined);
  }
}

async function underLoad(create, labels, extra, apiUrl, token, cliEnv, cwd) {
  for (let i = 0; i < SESSIONS; i++) labels.push((await create(CHATTY)).label);
  const clients = labels.map((label) => {
    const c = attached(['connect', label, '--no-sync-back'], { cwd, env: cliEnv, ownSession: true });
    let bytes = 0;
    c.child.stdout.on('data', (d) => (bytes += d.length));
    return { c, bytes: () => bytes };
  });
  await waitFor('P8 load', () => (clients.every((c) => c.bytes() > 10_000) ? true : undefined), 120_000, { everyMs: 20 });
  const createMs = [];
  for (let i = 0; i < CREATES; i++) {
    const made = await create('sleep 600');
    createMs.push(made.ms);
    extra.push(made.label);
  }
  const listMs = await listLatencies(`${apiUrl}${routes.listSessions.path}`, token, LISTS);
  for (const { c } of clients) c.child.stdin.write(Buffer.from([0x1d]));
  await Promise.all(clients.map(({ c }) => c.exited));
  return { createMs, listMs };
}

const dockerEnv = (dataDir) => ({
  PATH: process.env.PATH, HOME: process.env.HOME, CATTY_PROVISIONER: 'docker', CATTY_DOCKER_IMAGE: IMAGE, CATTY_DATA_DIR: dataDir,
  CATTY_DEVICE_CODE_INTERVAL_SEC: '1', CATTY_STOP_GRACE_MS: '2000', CATTY_LOG_LEVEL: 'warn', CATTY_MAX_SESSIONS_PER_USER: '100',
});

/** SIGTERMs the process group and waits for it (a live API would start catty-node again). */
async function kill(child) {
  const exited = child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((resolve) => child.once('exit', resolve));
  try {
    process.kill(-child.pid, 'SIGTERM');
  } catch {
    // gone
  }
  await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 15_000))]);
}

/** The data directory's catty-node (detached: it outlives the API on purpose). */
function killNode(dataDir) {
  try {
    process.kill(Number(fs.readFileSync(path.join(dataDir, 'node', 'catty-node.pid'), 'utf8')), 'SIGTERM');
  } catch {
    // none
  }
}

async function single() {
  const home = tempDir('p8-single');
  const dataDir = path.join(home, 'data');
  const port = await freePort();
  const env = { ...dockerEnv(dataDir), CATTY_API_LISTEN: `127.0.0.1:${port}`, CATTY_PUBLIC_URL: `http://127.0.0.1:${port}` };
  const api = await startProcess([API_BIN], env, 'the single catty-api');
  try {
    const { token, cliEnv } = await login(api.url, env, home);
    return await measure(api.url, token, cliEnv, home);
  } finally {
    await kill(api.child);
    killNode(dataDir);
    fs.rmSync(home, { recursive: true, force: true });
  }
}

async function shared() {
  const home = tempDir('p8-shared');
  const dataDir = path.join(home, 'data');
  const pgDir = tempDir('p8-pg');
  const pg = await startPostgres(pgDir)();
  const s3Key = { CATTY_S3_ACCESS_KEY_ID: `CATTY${randomBytes(8).toString('hex').toUpperCase()}`, CATTY_S3_SECRET_ACCESS_KEY: randomBytes(30).toString('base64url') };
  const s3 = await startProcess([API_BIN, 's3-server', '--listen', '127.0.0.1:0', '--dir', path.join(home, 's3')], { PATH: process.env.PATH, ...s3Key }, 'the S3 server');
  const ports = [await freePort(), await freePort()];
  const lb = await roundRobin(ports.map((port) => ({ host: '127.0.0.1', port })));
  const env = {
    ...dockerEnv(dataDir), ...s3Key, CATTY_MODE: 'shared', CATTY_DATABASE_URL: pg.url, CATTY_SECRET_KEY: randomBytes(32).toString('base64'),
    CATTY_S3_ENDPOINT: s3.url, CATTY_PUBLIC_URL: lb.url,
  };
  const replicas = await Promise.all(ports.map((port, i) => startProcess([API_BIN], { ...env, CATTY_API_LISTEN: `127.0.0.1:${port}` }, `replica ${i}`)));
  try {
    const { token, cliEnv } = await login(lb.url, env, home);
    return await measure(lb.url, token, cliEnv, home);
  } finally {
    await Promise.all(replicas.map((r) => kill(r.child)));
    killNode(dataDir);
    lb.close();
    await kill(s3.child);
    pg.stop();
    fs.rmSync(home, { recursive: true, force: true });
    fs.rmSync(pgDir, { recursive: true, force: true });
  }
}

export async function p8() {
  const base = await single();
  const replicas = await shared();
  const create50 = quantile(replicas.createMs, 0.5);
  const baseCreate50 = quantile(base.createMs, 0.5);
  const list99 = quantile(replicas.listMs, 0.99);
  const baseList99 = quantile(base.listMs, 0.99);
  return {
    rows: [
      { metric: 'P8 session create p50, 2 replicas on Postgres (ms)', catty: create50.toFixed(0), baseline: baseCreate50.toFixed(0), ratio: (create50 / baseCreate50).toFixed(2), target: '≤ 1.5×', pass: create50 <= 1.5 * baseCreate50 },
      { metric: 'P8 API list p99, 2 replicas on Postgres (ms)', catty: list99.toFixed(1), baseline: baseList99.toFixed(1), ratio: (list99 / baseList99).toFixed(2), target: '≤ 1.5×', pass: list99 <= 1.5 * baseList99 },
    ],
    samples: { shared: replicas, single: base },
  };
}
