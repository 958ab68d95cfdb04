// P5 — sync-back latency: a file written in the workspace until it is present, complete, in the
// local directory (200 samples, the write time travels inside the file), and a burst of 1,000
// files until the last one is present.
import fs from 'node:fs';
import path from 'node:path';
import { ROOT, attached, quantile, stopAll, tempDir, waitFor } from './lib.mjs';

const WRITER = path.join(ROOT, 'tests/fixtures/agents/sync-writer.mjs');
const SAMPLES = 200;
const BURST = 1000;


export async function p5(installation) {
  const dir = tempDir('p5');
  // The writer travels with the upload: the sandbox sees nothing of this checkout.
  fs.copyFileSync(WRITER, path.join(dir, 'sync-writer.mjs'));
  const session = attached(['new', '--cmd', 'node sync-writer.mjs'], { cwd: dir, env: installation.env });
  let output = '';
  session.child.stdout.on('data', (d) => (output += d));
  let latencies, burstMs;
  try {
    ({ latencies, burstMs } = await measure(session, () => output, dir));
  } catch (err) {
    // What the terminal and catty said is the first thing to look at when a wait timed out.
    session.child.kill('SIGKILL');
    await stopAll(installation).catch(() => undefined);
    throw new Error(`${err.message}; terminal tail ${JSON.stringify(output.slice(-300))}; catty stderr ${JSON.stringify(session.stderr().slice(-300))}`);
  }
  await stopAll(installation);
  fs.rmSync(dir, { recursive: true, force: true });
  const p50 = quantile(latencies, 0.5);
  const p99 = quantile(latencies, 0.99);
  return {
    rows: [
      { metric: 'P5 sync-back p50 (ms)', catty: p50.toFixed(0), baseline: '—', ratio: '—', target: '≤ 100 ms', pass: p50 <= 100 },
      { metric: 'P5 sync-back p99 (ms)', catty: p99.toFixed(0), baseline: '—', ratio: '—', target: '≤ 300 ms', pass: p99 <= 300 },
      { metric: 'P5 burst of 1,000 files (ms)', catty: burstMs.toFixed(0), baseline: '—', ratio: '—', target: '≤ 3000 ms', pass: burstMs <= 3000 },
    ],
    samples: { latencies, burstMs },
  };
}

/** The samples and the burst, through an attached `catty new` whose terminal output is `output()`. */
async function measure(session, output, dir) {
  await waitFor('P5 (the writer agent to start)', () => (output().includes('WRITER-READY') ? true : undefined), 30_000);

  session.child.stdin.write(`go ${SAMPLES} 20\r`);
  const latencies = [];
  for (let i = 0; i < SAMPLES; i++) {
    const file = path.join(dir, `lat/f${i}.txt`);
    const arrived = await waitFor(`P5 (sample ${i + 1} of ${SAMPLES})`, () => {
      try {
        const text = fs.readFileSync(file, 'utf8');
        return text.length >= 1000 ? Date.now() - Number(text.split('\n')[0]) : undefined;
      } catch {
        return undefined;
      }
    }, 30_000);
    latencies.push(arrived);
  }

  session.child.stdin.write(`burst ${BURST}\r`);
  const burstStart = await waitFor('P5 (the burst to start)', () => {
    const m = /BURST-START (\d+)/.exec(output());
    return m ? Number(m[1]) : undefined;
  }, 30_000);
  const last = path.join(dir, `burst/b${BURST - 1}.txt`);
  await waitFor(`P5 (the burst's ${BURST} files)`, () => {
    if (!fs.existsSync(last)) return undefined;
    return fs.readdirSync(path.join(dir, 'burst')).filter((n) => n.endsWith('.txt')).length >= BURST ? true : undefined;
  }, 60_000);
  const burstMs = Date.now() - burstStart;

  session.child.stdin.write(Buffer.from([0x1d]));
  await session.exited;
  return { latencies, burstMs };
}
