// Dev bench for P1's CPU cost, per process: the same 100 MB `cat` as P1 through a bare
// `catty-session` and the CLI's real attach code (dist/cli/attach) in a child process writing
// to a pipe, versus an in-process node-pty. Wall time is noisy on a shared 2-core machine; CPU
// seconds per 100 MB (utime+stime from /proc/<pid>/stat between the markers) are not.
// Usage: npm run build && node tests/bench/p1-cpu.mjs [runs]
// Profiles: RT_NODE_ARGS / CLI_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof' (node flags).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import pty from 'node-pty';
import { RUNTIME_NODE_OPTIONS } from '../../dist/session-runtime/wire/runtime-env.js';
import { ATTACH_CLIENT, cpuSeconds, median, startBareRuntime } from './lib.mjs';
import { measure, p1Command } from './p1-throughput.mjs';

const FILE = '/tmp/p1cpu.txt';
const COMMAND = p1Command(FILE);
async function catty() {
  const rt = await startBareRuntime(['sh', '-c', COMMAND], { env: { CATTY_NO_UPLOAD: '1', NODE_OPTIONS: RUNTIME_NODE_OPTIONS } });
  const cliNodeArgs = (process.env.CLI_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const client = spawn(process.execPath, [...cliNodeArgs, '--input-type=module', '-e', ATTACH_CLIENT, rt.url, rt.token], { stdio: ['ignore', 'pipe', 'inherit'] });
  const cpu = {};
  const result = await measure((fn) => client.stdout.on('data', fn), (phase) => {
    cpu[phase] = { rt: cpuSeconds(rt.proc.pid), cli: cpuSeconds(client.pid) };
  });
  await new Promise((r) => client.once('close', r));
  await rt.stop();
  const per100 = (k, part) => ((cpu.end[k][part] - cpu.start[k][part]) * 100e6) / result.bytes;
  const split = (k) => ({ user: per100(k, 'user'), sys: per100(k, 'sys'), total: per100(k, 'user') + per100(k, 'sys') });
  return { mbs: result.bytes / 1e6 / (result.ms / 1000), rt: split('rt'), cli: split('cli') };
}

async function baseline() {
  const term = pty.spawn('sh', ['-c', COMMAND], { cols: 200, rows: 50, env: { PATH: process.env.PATH, TERM: 'xterm-256color' } });
  let c0 = null;
  let c1 = null;
  const result = await measure((fn) => term.onData(fn), (phase) => {
    if (phase === 'start') c0 = process.cpuUsage();
    else c1 = process.cpuUsage(c0);
  });
  term.kill();
  const per100 = (us) => ((us / 1e6) * 100e6) / result.bytes;
  return { mbs: result.bytes / 1e6 / (result.ms / 1000), cpu: { user: per100(c1.user), sys: per100(c1.system), total: per100(c1.user + c1.system) } };
}

const runs = Number(process.argv[2] ?? 3);
const rows = { base: [], baseCpu: [], catty: [], rtCpu: [], cliCpu: [] };
for (let i = 0; i < runs; i++) {
  const b = await baseline();
  rows.base.push(b.mbs);
  rows.baseCpu.push(b.cpu.total);
  const c = await catty();
  rows.catty.push(c.mbs);
  rows.rtCpu.push(c.rt.total);
  rows.cliCpu.push(c.cli.total);
  const show = (x) => `${x.total.toFixed(2)} (usr ${x.user.toFixed(2)} sys ${x.sys.toFixed(2)})`;
  console.log(`run ${i + 1}: baseline ${b.mbs.toFixed(1)} MB/s, ${show(b.cpu)} | catty ${c.mbs.toFixed(1)} MB/s, runtime ${show(c.rt)}, cli ${show(c.cli)} cpu-s/100MB`);
}
const f = (xs) => median(xs).toFixed(2);
console.log(`median: baseline ${f(rows.base)} MB/s, ${f(rows.baseCpu)} cpu-s | catty ${f(rows.catty)} MB/s (ratio ${(median(rows.catty) / median(rows.base)).toFixed(2)}), runtime ${f(rows.rtCpu)} cpu-s, cli ${f(rows.cliCpu)} cpu-s per 100 MB`);
fs.rmSync(FILE, { force: true });
