// Dev bench for P1's system calls, per process: the same 100 MB `cat` as P1 through a bare
// `catty-session` and the CLI's real attach code (dist/cli/attach) writing to a pipe, with
// `perf stat` attached to the runtime and to the client; `base` counts the in-process node-pty
// baseline instead. Frames sent = the runtime's writev calls; a frame split across two socket
// reads shows as more client reads than frames. Needs perf (linux-perf) and its tracepoints.
// Usage: npm run build && node tests/bench/p1-syscalls.mjs [catty|base]
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import pty from 'node-pty';
import { RUNTIME_NODE_OPTIONS } from '../../dist/session-runtime/wire/runtime-env.js';
import { ATTACH_CLIENT, startBareRuntime } from './lib.mjs';
import { measure, p1Command } from './p1-throughput.mjs';

const FILE = '/tmp/p1syscalls.txt';
const COMMAND = p1Command(FILE);
const EVENTS = ['task-clock', 'context-switches', ...['read', 'epoll_pwait', 'writev', 'write'].map((call) => `syscalls:sys_enter_${call}`)];

/** Starts `perf stat` on a process; `stop()` ends it and resolves its counters by event. */
function perfStat(pid) {
  const perf = spawn('perf', ['stat', '-x', ',', '-e', EVENTS.join(','), '-p', String(pid)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let out = '';
  perf.stderr.on('data', (d) => (out += d));
  return {
    stop: () =>
      new Promise((resolve) => {
        perf.once('close', () => {
          const counts = {};
          for (const line of out.split('\n')) {
            const [value, , event] = line.split(',');
            if (event) counts[event.replace('syscalls:sys_enter_', '')] = Math.round(Number(value));
          }
          resolve(counts);
        });
        perf.kill('SIGINT');
      }),
  };
}

const mbs = (r) => (r.bytes / 1e6 / (r.ms / 1000)).toFixed(1);
if (process.argv[2] === 'base') {
  const term = pty.spawn('sh', ['-c', COMMAND], { cols: 200, rows: 50, env: { PATH: process.env.PATH, TERM: 'xterm-256color' } });
  const perf = perfStat(process.pid);
  const result = await measure((fn) => term.onData(fn));
  console.log(`baseline ${mbs(result)} MB/s; this process:`, await perf.stop());
  term.kill();
} else {
  const rt = await startBareRuntime(['sh', '-c', COMMAND], { env: { CATTY_NO_UPLOAD: '1', NODE_OPTIONS: RUNTIME_NODE_OPTIONS } });
  const rtPerf = perfStat(rt.proc.pid);
  const client = spawn(process.execPath, ['--input-type=module', '-e', ATTACH_CLIENT, rt.url, rt.token], { stdio: ['ignore', 'pipe', 'inherit'] });
  const cliPerf = perfStat(client.pid);
  const result = await measure((fn) => client.stdout.on('data', fn));
  const [runtime, cli] = await Promise.all([rtPerf.stop(), cliPerf.stop()]);
  console.log(`catty ${mbs(result)} MB/s (the client's count includes its start)\nruntime:`, runtime, '\nclient:', cli);
  await new Promise((resolve) => client.once('close', resolve));
  await rt.stop();
}
fs.rmSync(FILE, { force: true });
