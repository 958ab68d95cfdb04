// The API's WebSocket relay on the CLI's path (`/v1/sessions/<id>/runtime/connect`), against the
// same session's runtime reached directly (its Unix socket), in one run, alternating: keystroke
// echo p50/p99 (1,000 samples a round, P2's line) and output throughput (20 MB a round). For
// changes to api/relay/ (the browsers' relay of issue 24 had to leave this path as it was).
// Usage: npm run build && node tests/bench/api-relay.mjs [rounds=5]
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import WebSocket from 'ws';
import { routes } from '../../dist/api/contract/routes.js';
import { ROOT, cpuSeconds, deviceLogin, nowMs, pairedRatio, quantile, median, run, tempDir, waitFor } from './lib.mjs';

const API_BIN = path.join(ROOT, 'dist/api/bin.js');
const ROUNDS = Number(process.argv[2] ?? 5);
const SAMPLES = 1000;
const FLOOD_BYTES = 20_000_000;
const ECHO = "stty raw -echo; printf 'ECHO-READY'; cat";
// Floods FLOOD_BYTES then DONE each time it reads a byte.
const FLOOD = `stty raw -echo; printf 'FLOOD-READY'; while head -c 1 >/dev/null; do head -c ${FLOOD_BYTES} /dev/zero | tr '\\0' x; printf DONE; done`;

async function freePort() {
  const server = net.createServer();
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  await new Promise((r) => server.close(r));
  return port;
}

async function startApi() {
  const dataDir = tempDir('api-relay');
  const port = await freePort();
  const env = { PATH: process.env.PATH, HOME: dataDir, CATTY_DATA_DIR: dataDir, CATTY_API_LISTEN: `127.0.0.1:${port}`, CATTY_PUBLIC_URL: `http://127.0.0.1:${port}`, CATTY_PROVISIONER: 'local', CATTY_DEVICE_CODE_INTERVAL_SEC: '1', CATTY_LOG_LEVEL: 'warn' };
  const add = await run(process.execPath, [API_BIN, 'users', 'add', 'bench@example.com', '--password-stdin'], { env, input: 'bench-password-1\n' });
  if (add.code !== 0) throw new Error(`users add: ${add.stderr}`);
  const proc = spawn(process.execPath, [API_BIN], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  proc.stdout.on('data', (d) => (out += d));
  const url = await waitFor('catty-api to listen', () => /catty-api listening on (http:\/\/\S+)/.exec(out)?.[1], 30_000, { everyMs: 50 });
  const { access_token: token } = await deviceLogin(url, 'bench@example.com', 'bench-password-1');
  return {
    url,
    token,
    dataDir,
    pid: proc.pid,
    async close() {
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await exited;
      const machines = path.join(dataDir, 'machines');
      for (const id of fs.existsSync(machines) ? fs.readdirSync(machines) : []) {
        try {
          process.kill(JSON.parse(fs.readFileSync(path.join(machines, id, 'machine.json'), 'utf8')).runtimePid, 'SIGKILL');
        } catch {
          // gone already
        }
      }
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

async function session(api, cmd) {
  const res = await fetch(`${api.url}${routes.createSession.path}`, { method: 'POST', headers: { authorization: `Bearer ${api.token}`, 'content-type': 'application/json' }, body: JSON.stringify({ cmd, upload: false }) });
  if (res.status !== 201 && res.status !== 200) throw new Error(`create: ${res.status} ${await res.text()}`);
  const s = await res.json();
  const machine = JSON.parse(fs.readFileSync(path.join(api.dataDir, 'machines', s.id, 'machine.json'), 'utf8'));
  return {
    relay: () => new WebSocket(`${s.connectUrl.replace(/^http/, 'ws')}/connect`, { headers: { authorization: `Bearer ${s.connectToken}` } }),
    direct: () => new WebSocket(`${machine.runtimeUrl.replace(/^http/, 'ws')}/connect`, { headers: { authorization: `Bearer ${s.connectToken}` }, createConnection: () => net.createConnection(machine.runtimeSocket) }),
  };
}

/** Opens `ws`; once the runtime's hello came (and, the first time, `ready` was in the output or
 * the hello's screen), runs `measure(ws, onBinary)`; closes. */
async function attached(ws, ready, measure) {
  let handler = null;
  let seen = '';
  let isReady = false;
  ws.on('message', (data, isBinary) => {
    if (isReady) return void (isBinary && handler?.(data));
    if (isBinary) seen += data.toString('latin1');
    else {
      const message = JSON.parse(data.toString());
      if (message.type === 'hello') seen += message.screen ?? '';
    }
    if (ready.seen || seen.includes(ready.marker)) isReady = ready.seen = true;
  });
  await new Promise((resolve, reject) => (ws.once('open', resolve), ws.once('error', reject)));
  await waitFor(ready.marker, () => (isReady ? true : undefined), 15_000);
  const result = await measure(ws, (fn) => (handler = fn));
  const closed = new Promise((r) => ws.once('close', r));
  ws.close();
  await closed;
  return result;
}

const echoReady = { marker: 'ECHO-READY', seen: false };
const floodReady = { marker: 'FLOOD-READY', seen: false };

const echoRound = (ws) =>
  attached(ws, echoReady, async (socket, onBinary) => {
    const latencies = [];
    let pending = null;
    onBinary((chunk) => {
      if (pending && chunk.includes(0x61)) {
        const p = pending;
        pending = null;
        p(nowMs());
      }
    });
    for (let i = 0; i < SAMPLES; i++) {
      const back = new Promise((r) => (pending = r));
      const sent = nowMs();
      socket.send(Buffer.from('a'), { binary: true });
      latencies.push((await back) - sent);
    }
    return latencies;
  });

const floodRound = (ws) =>
  attached(ws, floodReady, async (socket, onBinary) => {
    let bytes = 0;
    let tail = '';
    const done = new Promise((resolve) =>
      onBinary((chunk) => {
        bytes += chunk.length;
        tail = (tail + chunk.subarray(-8).toString('latin1')).slice(-8);
        if (tail.endsWith('DONE')) resolve();
      }),
    );
    const started = nowMs();
    socket.send(Buffer.from('g'), { binary: true });
    await done;
    return (bytes / 1e6 / (nowMs() - started)) * 1000; // MB/s
  });

const api = await startApi();
try {
  const echo = await session(api, ECHO);
  const flood = await session(api, FLOOD);
  const lat = { relay: [], direct: [] };
  const p50 = { relay: [], direct: [] };
  const mbps = { relay: [], direct: [] };
  /** The API process's CPU per MB it relayed (steadier than wall time on a loaded machine). */
  const apiCpuMsPerMb = [];
  for (let round = 0; round < ROUNDS; round++) {
    // Alternate which goes first, so drift on a shared machine lands on both.
    const order = round % 2 ? ['direct', 'relay'] : ['relay', 'direct'];
    for (const way of order) {
      const samples = await echoRound(echo[way]());
      lat[way].push(...samples);
      p50[way].push(quantile(samples, 0.5));
    }
    for (const way of order) {
      const before = cpuSeconds(api.pid);
      mbps[way].push(await floodRound(flood[way]()));
      const after = cpuSeconds(api.pid);
      if (way === 'relay') apiCpuMsPerMb.push(((after.user + after.sys - before.user - before.sys) * 1000) / (FLOOD_BYTES / 1e6));
    }
  }
  const f = (x) => x.toFixed(3);
  console.log(`| way | echo p50 (ms) | echo p99 (ms) | throughput median (MB/s) |\n|---|---|---|---|`);
  for (const way of ['relay', 'direct']) console.log(`| ${way} | ${f(quantile(lat[way], 0.5))} | ${f(quantile(lat[way], 0.99))} | ${median(mbps[way]).toFixed(1)} |`);
  console.log(`API CPU while relaying: median ${median(apiCpuMsPerMb).toFixed(2)} ms per MB (rounds: ${apiCpuMsPerMb.map((x) => x.toFixed(2)).join(', ')})`);
  console.log(
    `relay adds p50 ${f(quantile(lat.relay, 0.5) - quantile(lat.direct, 0.5))} ms, p99 ${f(quantile(lat.relay, 0.99) - quantile(lat.direct, 0.99))} ms; ` +
      `paired medians: echo p50 ${pairedRatio(p50.relay, p50.direct).toFixed(2)}x direct, throughput ${pairedRatio(mbps.relay, mbps.direct).toFixed(2)}x direct ` +
      `(${ROUNDS} rounds, ${SAMPLES * ROUNDS} echoes and ${ROUNDS} x ${FLOOD_BYTES / 1e6} MB each way; load average ${(await import('node:os')).loadavg()[0].toFixed(1)})`,
  );
} finally {
  await api.close();
}
