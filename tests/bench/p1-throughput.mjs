// P1 — terminal output throughput: the agent `cat`s a 100 MB text file; the bytes cross
// runtime PTY → WebSocket → CLI stdout. Baseline: the same command in a local node-pty, read
// in-process. Both run the same shell line, so PTY line discipline costs the same on each side.
import pty from 'node-pty';
import { attached, median, nowMs, pairedRatio } from './lib.mjs';

const FILE_BYTES = 100 * 1000 * 1000;
/**
 * P1's shell line: generates the 100 MB file at `file` (inside a session its /tmp is private),
 * then marks the start, `cat`s it and marks the end. The dev benches use it with files of their own.
 */
export const p1Command = (file) =>
  `yes 'catty throughput line: 0123456789abcdefghijklmnopqrstuvwxyz' | head -c ${FILE_BYTES} > ${file}; printf '\\n@@START@@\\n'; cat ${file}; printf '\\n@@END@@\\n'; sleep 1`;
const COMMAND = p1Command('/tmp/p1.txt');

/**
 * Counts bytes between the markers in a stream of chunks (Buffers, or strings of single-byte
 * characters); resolves {bytes, ms}. `mark(phase)` runs at 'start' and 'end'
 * (tests/bench/p1-cpu.mjs samples CPU time there). The search costs both sides the same and
 * little: indexOf on the chunk itself, and only a marker split across two chunks is looked for
 * in a few joined bytes — no 100 MB of string conversion on the measured cores.
 */
export function measure(onChunk, mark = () => {}) {
  const text = (chunk, from, to) => (typeof chunk === 'string' ? chunk.slice(from, to) : chunk.toString('latin1', from, to));
  return new Promise((resolve) => {
    let started = null;
    let bytes = 0;
    let tail = '';
    const seen = (chunk, marker) => chunk.indexOf(marker) >= 0 || (tail + text(chunk, 0, marker.length)).includes(marker);
    onChunk((chunk) => {
      if (started === null) {
        if (seen(chunk, '@@START@@')) {
          started = nowMs();
          mark('start');
        }
      } else {
        bytes += chunk.length;
        if (seen(chunk, '@@END@@')) {
          mark('end');
          resolve({ bytes, ms: nowMs() - started });
        }
      }
      tail = text(chunk, Math.max(0, chunk.length - 16), chunk.length);
    });
  });
}

async function baseline() {
  const term = pty.spawn('sh', ['-c', COMMAND], { cols: 200, rows: 50, env: { PATH: process.env.PATH, TERM: 'xterm-256color' } });
  const result = await measure((fn) => term.onData(fn));
  term.kill();
  return result;
}

async function catty(installation) {
  const session = attached(['new', '--no-upload', '--no-sync-back', '--cmd', COMMAND], { cwd: installation.home, env: installation.env });
  const result = await measure((fn) => session.child.stdout.on('data', fn));
  await session.exited;
  return result;
}

export async function p1(installation, { runs = 5 } = {}) {
  const ours = [];
  const theirs = [];
  for (let i = 0; i < runs; i++) {
    const b = await baseline();
    theirs.push(b.bytes / 1e6 / (b.ms / 1000));
    const c = await catty(installation);
    ours.push(c.bytes / 1e6 / (c.ms / 1000));
  }
  const ratio = pairedRatio(ours, theirs);
  return {
    rows: [{ metric: 'P1 output throughput (MB/s)', catty: median(ours).toFixed(1), baseline: median(theirs).toFixed(1), ratio: ratio.toFixed(2), target: '≥ 0.8×', pass: ratio >= 0.8 }],
    samples: { catty: ours, baseline: theirs },
  };
}
