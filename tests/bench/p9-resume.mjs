// P9 — resume: `catty stop` then `catty resume` of a session with a 1 MB workspace, until the
// agent's first byte reaches the CLI. Baseline: P3's fresh start (`catty new` until the first
// byte), measured in the same run — each pair is one session: started fresh (timed), detached,
// stopped (its final snapshot taken), resumed (timed). Target: resume ≤ 2× the fresh start
// (the median of the pairs' ratios, as everywhere in the harness).
//
// Both starts take the local provisioner's spare machine when one is ready, and the next spare
// starts 1 s after a start: timed back to back, the resume got it in some pairs and not in
// others (resume 200–290 ms with it, 430–620 without, in one run). So each timed step first
// waits until a spare is ready — the state a user meets, who does not resume within a second —
// unless CATTY_LOCAL_SPARE=0 turns spares off (then both start cold).
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT, attached, median, nowMs, pairedRatio, stopAll, tempDir, waitFor } from './lib.mjs';

const COMMAND = "printf 'FIRST-BYTE'; sleep 30";

function workspace() {
  const dir = tempDir('p9');
  for (let i = 0; i < 100; i++) fs.writeFileSync(path.join(dir, `f${i}.txt`), 'x'.repeat(10_000));
  return dir;
}

const sparesOff = ['0', 'false', 'no', 'off'].includes((process.env.CATTY_LOCAL_SPARE ?? '').toLowerCase());
const { LAUNCHER_WAITING_LINE } = await import(pathToFileURL(path.join(ROOT, 'dist/session-runtime/wire/runtime-env.js')).href);

/** Waits until the installation's spare machine waits for a session (local.ts: data/machines/spare-*). */
async function spareReady(installation) {
  if (sparesOff) return;
  const machines = path.join(installation.env.CATTY_HOME, 'local/data/machines');
  const waiting = () => {
    for (const name of fs.existsSync(machines) ? fs.readdirSync(machines) : []) {
      if (!name.startsWith('spare-')) continue;
      try {
        if (fs.readFileSync(path.join(machines, name, 'runtime.log'), 'utf8').includes(LAUNCHER_WAITING_LINE)) return true;
      } catch {
        // not written yet
      }
    }
    return undefined;
  };
  await waitFor('a spare machine', waiting, 15_000, { everyMs: 20 });
}

/**
 * Runs `catty <args>` attached until the agent's first byte, then detaches; the time to the
 * byte, and what the CLI said on stderr.
 */
async function firstByte(installation, dir, args) {
  const started = nowMs();
  const session = attached(args, { cwd: dir, env: installation.env });
  let seen = '';
  const failed = session.exited.then((code) => {
    throw new Error(`catty ${args[0]} exited (${code}) before the first byte: ${session.stderr()}`);
  });
  await Promise.race([failed, new Promise((resolve) => session.child.stdout.on('data', (d) => {
    seen += d;
    if (seen.includes('FIRST-BYTE')) resolve();
  }))]);
  const ms = nowMs() - started;
  failed.catch(() => undefined);
  session.child.stdin.write(Buffer.from([0x1d]));
  await session.exited;
  return { ms, stderr: session.stderr() };
}

async function onlyLabel(installation) {
  const listed = await installation.catty(['list', '--json']);
  if (listed.code !== 0) throw new Error(`catty list failed: ${listed.stderr}`);
  const sessions = JSON.parse(listed.stdout);
  if (sessions.length !== 1) throw new Error(`expected one session, found ${sessions.length}`);
  return sessions[0].label;
}

export async function p9(installation, { runs = 5 } = {}) {
  const dir = workspace();
  const resumed = [];
  const fresh = [];
  try {
    for (let i = 0; i < runs; i++) {
      await spareReady(installation);
      fresh.push((await firstByte(installation, dir, ['new', '--no-sync-back', '--cmd', COMMAND])).ms);
      const label = await onlyLabel(installation);
      const stopped = await installation.catty(['stop', label]);
      if (stopped.code !== 0) throw new Error(`catty stop failed: ${stopped.stderr}`);
      await spareReady(installation);
      const resume = await firstByte(installation, dir, ['resume', label, '--no-sync-back']);
      // A resume, not an attach to a machine still running: the CLI says which it did.
      if (!resume.stderr.includes('resumed from its snapshot')) throw new Error(`catty resume did not resume: ${resume.stderr}`);
      resumed.push(resume.ms);
      await stopAll(installation);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const ratio = pairedRatio(resumed, fresh);
  return {
    rows: [{ metric: 'P9 resume (ms)', catty: median(resumed).toFixed(0), baseline: `${median(fresh).toFixed(0)} (P3 start)`, ratio: `${ratio.toFixed(2)}×`, target: '≤ 2× P3', pass: ratio <= 2 }],
    samples: { resume: resumed, start: fresh },
  };
}
