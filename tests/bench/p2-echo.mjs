// P2 — keystroke echo latency: one byte typed at the CLI until it comes back at the CLI, 1,000
// samples, through `stty raw -echo; cat` in the session. Baseline: the same line in a local
// node-pty. Reported as the added p50/p99.
import pty from 'node-pty';
import { attached, nowMs, quantile, stopAll } from './lib.mjs';

const COMMAND = "stty raw -echo; printf 'ECHO-READY'; cat";
const SAMPLES = 1000;

/** Sends one byte at a time, waiting for each to come back; returns latencies in ms. */
async function sample(write, onData) {
  const latencies = [];
  let pending = null;
  let ready;
  const isReady = new Promise((r) => (ready = r));
  let seen = '';
  onData((chunk) => {
    if (ready) {
      seen += chunk.toString('latin1');
      if (seen.includes('ECHO-READY')) {
        ready();
        ready = null;
      }
      return;
    }
    if (pending && chunk.includes(0x61)) {
      const p = pending;
      pending = null;
      p(nowMs());
    }
  });
  await isReady;
  for (let i = 0; i < SAMPLES; i++) {
    const back = new Promise((r) => (pending = r));
    const sent = nowMs();
    write(Buffer.from('a'));
    latencies.push((await back) - sent);
  }
  return latencies;
}

async function baseline() {
  const term = pty.spawn('sh', ['-c', COMMAND], { cols: 80, rows: 24, env: { PATH: process.env.PATH, TERM: 'xterm-256color' } });
  const latencies = await sample((b) => term.write(b.toString()), (fn) => term.onData((d) => fn(Buffer.from(d, 'latin1'))));
  term.kill();
  return latencies;
}

async function catty(installation) {
  const session = attached(['new', '--no-upload', '--no-sync-back', '--cmd', COMMAND], { cwd: installation.home, env: installation.env });
  const latencies = await sample((b) => session.child.stdin.write(b), (fn) => session.child.stdout.on('data', fn));
  session.child.stdin.write(Buffer.from([0x1d])); // detach
  await session.exited;
  await stopAll(installation);
  return latencies;
}

export async function p2(installation) {
  const theirs = await baseline();
  const ours = await catty(installation);
  const added50 = quantile(ours, 0.5) - quantile(theirs, 0.5);
  const added99 = quantile(ours, 0.99) - quantile(theirs, 0.99);
  return {
    rows: [
      { metric: 'P2 echo p50 (ms)', catty: quantile(ours, 0.5).toFixed(3), baseline: quantile(theirs, 0.5).toFixed(3), ratio: `+${added50.toFixed(3)} ms`, target: 'added ≤ 1 ms', pass: added50 <= 1 },
      { metric: 'P2 echo p99 (ms)', catty: quantile(ours, 0.99).toFixed(3), baseline: quantile(theirs, 0.99).toFixed(3), ratio: `+${added99.toFixed(3)} ms`, target: 'added ≤ 5 ms', pass: added99 <= 5 },
    ],
    samples: { catty: ours, baseline: theirs },
  };
}
