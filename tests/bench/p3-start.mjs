// P3 — session start: `catty new` (control plane already running, 1 MB workspace) until the
// agent's first byte reaches the CLI. Baseline: spawning the same agent in a local PTY until its
// first byte. Target: ≤ 0.5 s absolute, ratio reported.
import fs from 'node:fs';
import path from 'node:path';
import pty from 'node-pty';
import { attached, median, nowMs, pairedRatio, stopAll, tempDir } from './lib.mjs';

const COMMAND = "printf 'FIRST-BYTE'; sleep 30";

function workspace() {
  const dir = tempDir('p3');
  for (let i = 0; i < 100; i++) fs.writeFileSync(path.join(dir, `f${i}.txt`), 'x'.repeat(10_000));
  return dir;
}

async function baseline() {
  const started = nowMs();
  const term = pty.spawn('sh', ['-c', COMMAND], { env: { PATH: process.env.PATH } });
  await new Promise((resolve) => term.onData((d) => d.includes('F') && resolve()));
  const ms = nowMs() - started;
  term.kill();
  return ms;
}

async function catty(installation, dir) {
  const started = nowMs();
  const session = attached(['new', '--no-sync-back', '--cmd', COMMAND], { cwd: dir, env: installation.env });
  let seen = '';
  await new Promise((resolve) => session.child.stdout.on('data', (d) => {
    seen += d;
    if (seen.includes('FIRST-BYTE')) resolve();
  }));
  const ms = nowMs() - started;
  session.child.stdin.write(Buffer.from([0x1d]));
  await session.exited;
  return ms;
}

export async function p3(installation, { runs = 5 } = {}) {
  const dir = workspace();
  const ours = [];
  const theirs = [];
  for (let i = 0; i < runs; i++) {
    theirs.push(await baseline());
    ours.push(await catty(installation, dir));
    await stopAll(installation);
  }
  fs.rmSync(dir, { recursive: true, force: true });
  const ms = median(ours);
  return {
    rows: [{ metric: 'P3 session start (ms)', catty: ms.toFixed(0), baseline: median(theirs).toFixed(1), ratio: `${pairedRatio(ours, theirs).toFixed(0)}×`, target: '≤ 500 ms', pass: ms <= 500 }],
    samples: { catty: ours, baseline: theirs },
  };
}
