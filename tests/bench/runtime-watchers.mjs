// Dev bench for issue 24's several clients: runtime-chatty.mjs's load (an agent printing 1 KiB
// every 10 ms, the CLI's own attach loop in a child process) with 0, 1 and 3 browser watchers
// (`client=browser` WebSockets in this process, reading everything). Reports the runtime's CPU
// milliseconds per second and the bytes each watcher got next to the CLI's, over a window after
// a warm-up: what each watcher costs the session's machine.
// Usage: npm run build && node tests/bench/runtime-watchers.mjs [seconds] [watchers...]
import { spawn } from 'node:child_process';
import WebSocket from 'ws';
import { RUNTIME_NODE_OPTIONS } from '../../dist/session-runtime/wire/runtime-env.js';
import { ATTACH_CLIENT, cpuSeconds, startBareRuntime, waitFor } from './lib.mjs';

const CHATTY = `const l='y'.repeat(1023)+'\\n'; setInterval(() => process.stdout.write(l), 10)`;
const WARMUP_MS = 12_000; // past the screen's lazy activation (1 MiB of output)
const seconds = Number(process.argv[2] ?? 10);
const counts = process.argv.length > 3 ? process.argv.slice(3).map(Number) : [0, 1, 3];

function watcher(rt) {
  const ws = new WebSocket(`${rt.url.replace('http', 'ws')}/connect?client=browser`, { headers: { authorization: `Bearer ${rt.token}` }, perMessageDeflate: false });
  const w = { ws, bytes: 0 };
  ws.on('message', (data, binary) => {
    if (binary) w.bytes += data.length;
  });
  return new Promise((resolve) => ws.once('open', () => resolve(w)));
}

async function once(watchers) {
  const rt = await startBareRuntime([process.execPath, '-e', CHATTY], { env: { CATTY_NO_UPLOAD: '1', NODE_OPTIONS: RUNTIME_NODE_OPTIONS } });
  const client = spawn(process.execPath, ['--input-type=module', '-e', ATTACH_CLIENT, rt.url, rt.token], { stdio: ['ignore', 'pipe', 'inherit'] });
  let bytes = 0;
  client.stdout.on('data', (d) => (bytes += d.length));
  await waitFor('chatty', () => (bytes > 0 ? true : undefined), 30_000);
  const browsers = await Promise.all(Array.from({ length: watchers }, () => watcher(rt)));
  await new Promise((r) => setTimeout(r, WARMUP_MS));
  const sample = () => ({ rt: cpuSeconds(rt.proc.pid), cli: bytes, browsers: browsers.map((b) => b.bytes), at: performance.now() });
  const a = sample();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const b = sample();
  for (const w of browsers) w.ws.close();
  client.kill('SIGINT');
  await new Promise((r) => client.once('close', r));
  await rt.stop();
  const s = (b.at - a.at) / 1000;
  const rtMs = ((b.rt.user - a.rt.user + b.rt.sys - a.rt.sys) * 1000) / s;
  const kbs = (x, y) => ((y - x) / 1000 / s).toFixed(0);
  return { rtMs, cli: kbs(a.cli, b.cli), browsers: a.browsers.map((x, i) => kbs(x, b.browsers[i])) };
}

for (const n of counts) {
  const r = await once(n);
  console.log(`${n} watcher(s): runtime ${r.rtMs.toFixed(1)} ms/s of CPU; KB/s delivered: cli ${r.cli}${r.browsers.length ? `, watchers ${r.browsers.join(' ')}` : ''}`);
}
