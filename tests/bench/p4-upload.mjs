// P4 — workspace upload: the 100 MB / ~6,000-file tree walked, filtered, zipped, uploaded and
// extracted until the runtime reports ready (`catty new --detach` returns), with the CLI's peak
// RSS. Baseline: `tar -cf - . | gzip -1 | tar -xzf - -C dest` of the same tree.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { CATTY, median, pairedRatio, run, stopAll, tempDir } from './lib.mjs';

async function baseline(tree) {
  const dest = tempDir('p4-dest');
  const result = await run('sh', ['-c', `tar -cf - . | gzip -1 | tar -xzf - -C '${dest}'`], { cwd: tree });
  fs.rmSync(dest, { recursive: true, force: true });
  if (result.code !== 0) throw new Error(`baseline failed: ${result.stderr}`);
  return result.ms;
}

/** The runtime's own account of the upload (received/extracted/agent start), from its log. */
function runtimeUploadLine(installation) {
  const machines = path.join(installation.env.CATTY_HOME, 'local', 'data', 'machines');
  const logs = fs
    .readdirSync(machines)
    .map((id) => path.join(machines, id, 'runtime.log'))
    .filter((log) => fs.existsSync(log))
    .sort((a, b) => fs.statSync(a).mtimeMs - fs.statSync(b).mtimeMs);
  const newest = logs.at(-1);
  return newest ? (fs.readFileSync(newest, 'utf8').split('\n').find((l) => l.includes('upload:')) ?? null) : null;
}

async function catty(installation, tree) {
  const result = await run(process.execPath, [CATTY, 'new', '--detach', '--cmd', 'sleep 600'], { cwd: tree, env: installation.env });
  if (result.code !== 0) throw new Error(`catty new --detach failed: ${result.stderr}`);
  result.runtime = runtimeUploadLine(installation);
  await stopAll(installation);
  return result;
}

export async function p4(installation, tree, { runs = 3 } = {}) {
  const ours = [];
  const rss = [];
  const theirs = [];
  const runtimeLog = [];
  for (let i = 0; i < runs; i++) {
    // Both sides start with no writeback pending from the run before (see run.mjs).
    execFileSync('sync');
    theirs.push(await baseline(tree));
    execFileSync('sync');
    const c = await catty(installation, tree);
    ours.push(c.ms);
    rss.push(c.peakRssMb);
    runtimeLog.push(c.runtime);
  }
  const ratio = pairedRatio(ours, theirs);
  const peak = Math.max(...rss);
  return {
    rows: [
      { metric: 'P4 upload 100 MB / 6k files (ms)', catty: median(ours).toFixed(0), baseline: median(theirs).toFixed(0), ratio: `${ratio.toFixed(2)}×`, target: '≤ 2×', pass: ratio <= 2 },
      { metric: 'P4 CLI peak RSS (MB)', catty: peak.toFixed(0), baseline: '—', ratio: '—', target: '≤ 150 MB', pass: peak <= 150 },
    ],
    samples: { catty: ours, baseline: theirs, cliPeakRssMb: rss, runtimeLog },
  };
}
