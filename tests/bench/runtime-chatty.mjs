// Dev bench for P7's per-session cost: one `catty-session` whose agent prints 1 KiB every 10 ms
// (P7's 100 KB/s), attached by the CLI's own attach loop in a child process writing to a pipe.
// Reports CPU milliseconds per second of the runtime and the CLI (utime+stime from /proc), over
// a window after a warm-up. P7 runs 20 of these on 2 cores, so 50 ms/s per session is a core.
// Usage: npm run build && node tests/bench/runtime-chatty.mjs [seconds] [runs]
// Profiles: RT_NODE_ARGS / CLI_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof' (node flags).
import { spawn } from 'node:child_process';
import { RUNTIME_NODE_OPTIONS } from '../../dist/session-runtime/wire/runtime-env.js';
import { ATTACH_CLIENT, cpuSeconds, median, startBareRuntime, waitFor } from './lib.mjs';

const CHATTY = `const l='y'.repeat(1023)+'\\n'; setInterval(() => process.stdout.write(l), 10)`;
const WARMUP_MS = 12_000; // past the screen's lazy activation (1 MiB of output)
const seconds = Number(process.argv[2] ?? 10);
const runs = Number(process.argv[3] ?? 3);

async function once() {
  const rt = await startBareRuntime([process.execPath, '-e', CHATTY], { env: { CATTY_NO_UPLOAD: '1', NODE_OPTIONS: RUNTIME_NODE_OPTIONS } });
  const cliNodeArgs = (process.env.CLI_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const client = spawn(process.execPath, [...cliNodeArgs, '--input-type=module', '-e', ATTACH_CLIENT, rt.url, rt.token], { stdio: ['ignore', 'pipe', 'inherit'] });
  let bytes = 0;
  client.stdout.on('data', (d) => (bytes += d.length));
  await waitFor('chatty', () => (bytes > 0 ? true : undefined), 30_000);
  await new Promise((r) => setTimeout(r, WARMUP_MS));
  const sample = () => ({ rt: cpuSeconds(rt.proc.pid), cli: cpuSeconds(client.pid), bytes, at: performance.now() });
  const a = sample();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const b = sample();
  client.kill('SIGINT');
  await new Promise((r) => client.once('close', r));
  await rt.stop();
  const s = (b.at - a.at) / 1000;
  const ms = (k, part) => ((b[k][part] - a[k][part]) * 1000) / s;
  const split = (k) => ({ user: ms(k, 'user'), sys: ms(k, 'sys'), total: ms(k, 'user') + ms(k, 'sys') });
  return { rt: split('rt'), cli: split('cli'), kbs: (b.bytes - a.bytes) / 1000 / s };
}

const rows = { rt: [], cli: [] };
for (let i = 0; i < runs; i++) {
  const r = await once();
  rows.rt.push(r.rt.total);
  rows.cli.push(r.cli.total);
  const show = (x) => `${x.total.toFixed(1)} (usr ${x.user.toFixed(1)} sys ${x.sys.toFixed(1)})`;
  console.log(`run ${i + 1}: ${r.kbs.toFixed(0)} KB/s delivered; CPU ms/s: runtime ${show(r.rt)}, cli ${show(r.cli)}`);
}
console.log(`median: runtime ${median(rows.rt).toFixed(1)} ms/s, cli ${median(rows.cli).toFixed(1)} ms/s of CPU`);
