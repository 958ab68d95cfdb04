// The API relay's per-message cost alone: pairSockets (dist/api/relay/ws-relay.js) between a
// client and a stand-in runtime over loopback, in this process; the runtime sends 64 KiB binary
// frames (output) and the client answers every 16th with a 1-byte frame (keystrokes), and the
// process's CPU time per MB relayed is measured. Given a second build's dist directory, runs both
// builds' pairSockets alternately in the same process (A/B: the machine's drift lands on both).
// Usage: npm run build && node tests/bench/relay-pair.mjs [other-dist-dir] [rounds=8]
import http from 'node:http';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import WebSocket, { WebSocketServer } from 'ws';
import { ROOT, median } from './lib.mjs';

const FRAME = Buffer.alloc(64 * 1024, 0x78);
const MB_PER_ROUND = 200;
const FRAMES = Math.round((MB_PER_ROUND * 1e6) / FRAME.length);
const ROUNDS = Number(process.argv[3] ?? 8);

const builds = [['this build', path.join(ROOT, 'dist')]];
if (process.argv[2]) builds.push(['other build', path.resolve(process.argv[2])]);
const pairOf = {};
for (const [name, dist] of builds) pairOf[name] = (await import(pathToFileURL(path.join(dist, 'api/relay/ws-relay.js')).href)).pairSockets;

const listen = (server) => new Promise((r) => server.listen(0, '127.0.0.1', () => r(`ws://127.0.0.1:${server.address().port}`)));

/** One round through `pairSockets`: CPU ms per MB relayed (runtime → client), and wall MB/s. */
async function round(pairSockets) {
  const runtimeServer = http.createServer();
  const runtime = new WebSocketServer({ server: runtimeServer, perMessageDeflate: false });
  const runtimeUrl = await listen(runtimeServer);
  const relayServer = http.createServer();
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  let pair = null;
  relayServer.on('upgrade', (req, socket, head) => {
    const upstream = new WebSocket(runtimeUrl, { perMessageDeflate: false });
    upstream.once('open', () => wss.handleUpgrade(req, socket, head, (down) => (pair = pairSockets(down, upstream))));
  });
  const runtimeSide = new Promise((r) => runtime.once('connection', r));
  const client = new WebSocket(await listen(relayServer), { perMessageDeflate: false });
  await new Promise((r) => client.once('open', r));
  const rt = await runtimeSide;
  let got = 0;
  let frames = 0;
  const done = new Promise((resolve) =>
    client.on('message', (data) => {
      got += data.length;
      if (++frames % 16 === 0) client.send(Buffer.from('k'));
      if (got >= FRAMES * FRAME.length) resolve();
    }),
  );
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let sent = 0;
  const pump = () => {
    while (sent < FRAMES && rt.bufferedAmount < 4 * 1024 * 1024) {
      rt.send(FRAME, { binary: true });
      sent++;
    }
    if (sent < FRAMES) setImmediate(pump);
  };
  pump();
  await done;
  const cpu = process.cpuUsage(cpu0);
  const ms = performance.now() - t0;
  pair.close(1000, 'done');
  await pair.ended;
  await new Promise((r) => relayServer.close(r));
  await new Promise((r) => runtime.close(r));
  await new Promise((r) => runtimeServer.close(r));
  return { cpuMsPerMb: (cpu.user + cpu.system) / 1000 / MB_PER_ROUND, mbps: MB_PER_ROUND / (ms / 1000) };
}

const results = Object.fromEntries(builds.map(([name]) => [name, []]));
await round(pairOf['this build']); // warm-up (JIT), not counted
for (let i = 0; i < ROUNDS; i++) {
  const order = i % 2 ? [...builds].reverse() : builds;
  for (const [name] of order) results[name].push(await round(pairOf[name]));
}
console.log(`| build | process CPU (ms per MB relayed), median | throughput (MB/s), median |\n|---|---|---|`);
for (const [name, dist] of builds) {
  const r = results[name];
  console.log(`| ${name} (${dist}) | ${median(r.map((x) => x.cpuMsPerMb)).toFixed(3)} | ${median(r.map((x) => x.mbps)).toFixed(0)} |`);
}
console.log(`(${ROUNDS} rounds of ${MB_PER_ROUND} MB each, alternating; client, relay and runtime stand-in in one process)`);
