// P6 — snapshot: the 100 MB workspace archived (tar.gz) and stored in the S3 server by the
// session runtime, timed by the runtime's own log line; its RSS sampled from outside (/proc)
// while it works; then an unchanged workspace must upload nothing. Baseline: `tar -czf` of the
// same tree to a file.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { cattyInstallation, median, nowMs, pairedRatio, rssMb, run, stopAll, tempDir, waitFor } from './lib.mjs';

const INTERVAL_MS = 4000;
const SNAPSHOT_LINE = /snapshot uploaded: (\d+) bytes, archived in (\d+) ms, stored in (\d+) ms/g;

async function baseline(tree) {
  const out = path.join(tempDir('p6'), 'tree.tar.gz');
  const result = await run('tar', ['-czf', out, '.'], { cwd: tree });
  fs.rmSync(path.dirname(out), { recursive: true, force: true });
  return result.ms;
}


async function catty(installation, tree) {
  const created = await run(process.execPath, [installation.bin, 'new', '--detach', '--no-sync-back', '--cmd', 'sleep 600'], { cwd: tree, env: installation.env });
  if (created.code !== 0) throw new Error(`catty new failed: ${created.stderr}`);
  const listed = JSON.parse((await installation.catty(['list', '--json'])).stdout);
  const machineDir = path.join(installation.env.CATTY_HOME, 'local/data/machines', listed[0].id);
  const record = () => JSON.parse(fs.readFileSync(path.join(machineDir, 'machine.json'), 'utf8'));
  const log = () => fs.readFileSync(path.join(machineDir, 'runtime.log'), 'utf8');
  const pid = await waitFor('P6 runtime pid', () => record().runtimePid ?? undefined, 10_000);
  let peak = 0;
  const snapshots = () => [...log().matchAll(SNAPSHOT_LINE)];
  const [first] = await waitFor('P6 snapshot', () => (snapshots().length > 0 ? snapshots() : undefined), 120_000, {
    everyMs: 10,
    onTick: () => (peak = Math.max(peak, rssMb(pid) ?? 0)),
  });
  // Two more periods with nothing changed: nothing may be uploaded.
  const quietUntil = nowMs() + 2 * INTERVAL_MS + 500;
  await waitFor('P6 quiet period', () => (nowMs() > quietUntil ? true : undefined), 3 * INTERVAL_MS, { everyMs: 10 });
  const extra = snapshots().length - 1;
  await stopAll(installation);
  return { ms: Number(first[2]) + Number(first[3]), bytes: Number(first[1]), peakRssMb: peak, extraUploads: extra };
}

export async function p6(tree, { runs = 2 } = {}) {
  const installation = await cattyInstallation({ CATTY_RUNTIME_ENV: JSON.stringify({ CATTY_SNAPSHOT_INTERVAL_MS: String(INTERVAL_MS) }) });
  try {
    const ours = [];
    const theirs = [];
    const peaks = [];
    let extra = 0;
    for (let i = 0; i < runs; i++) {
      // Both sides start with no writeback pending from the run before (see run.mjs).
      execFileSync('sync');
      theirs.push(await baseline(tree));
      execFileSync('sync');
      const c = await catty(installation, tree);
      ours.push(c.ms);
      peaks.push(c.peakRssMb);
      extra += c.extraUploads;
    }
    const ratio = pairedRatio(ours, theirs);
    const peak = Math.max(...peaks);
    return {
      rows: [
        { metric: 'P6 snapshot 100 MB (ms)', catty: median(ours).toFixed(0), baseline: median(theirs).toFixed(0), ratio: `${ratio.toFixed(2)}×`, target: '≤ 2×', pass: ratio <= 2 },
        { metric: 'P6 unchanged workspace: uploads', catty: String(extra), baseline: '—', ratio: '—', target: '0', pass: extra === 0 },
        { metric: 'P6 runtime peak RSS while snapshotting (MB)', catty: peak.toFixed(0), baseline: '—', ratio: '—', target: '≤ 150 MB', pass: peak <= 150 },
      ],
      samples: { catty: ours, baseline: theirs, runtimePeakRssMb: peaks },
    };
  } finally {
    await installation.close();
  }
}
