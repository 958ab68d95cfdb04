/** Progress on stderr when it is a TTY (a cli-progress bar, or a counting spinner); silent otherwise. */
import type { OutputStream } from '../context.js';
import { formatBytes } from '../output.js';

export interface Progress {
  update(value: number): void;
  stop(): void;
}

const SILENT: Progress = { update: () => undefined, stop: () => undefined };

/** Async so cli-progress is loaded only when a bar is actually drawn (startup memory). */
export async function createProgress(stream: OutputStream, label: string, totalBytes: number): Promise<Progress> {
  if (!stream.isTTY || totalBytes <= 0) return SILENT;
  const { default: cliProgress } = await import('cli-progress');
  const started = Date.now();
  const bar = new cliProgress.SingleBar(
    {
      stream: stream as NodeJS.WritableStream,
      format: `${label} [{bar}] {percentage}% | {done} / {all} | {rate}/s | ETA {eta_formatted}`,
      hideCursor: false,
      clearOnComplete: true,
      fps: 10,
      etaBuffer: 50,
    },
    cliProgress.Presets.shades_classic,
  );
  const fields = (value: number) => ({
    done: formatBytes(value),
    all: formatBytes(totalBytes),
    rate: formatBytes(Math.round(value / Math.max(0.001, (Date.now() - started) / 1000))),
  });
  bar.start(totalBytes, 0, fields(0));
  return {
    update: (value) => bar.update(Math.min(value, totalBytes), fields(value)),
    stop: () => bar.stop(),
  };
}

/**
 * A spinner line with a count for work of unknown length (the walk): drawn on a TTY only, and
 * only once the work has taken `afterMs` — a quick walk leaves no trace. `stop` clears it.
 */
export function countSpinner(stream: OutputStream, render: () => string, afterMs = 300): { stop(): void } {
  if (!stream.isTTY) return { stop: () => undefined };
  const frames = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
  let frame = 0;
  let timer: NodeJS.Timeout | undefined;
  const draw = () => stream.write(`\r\x1b[K${frames[frame++ % frames.length]} ${render()}`);
  const start = setTimeout(() => {
    draw();
    timer = setInterval(draw, 100);
    timer.unref();
  }, afterMs);
  start.unref();
  return {
    stop: () => {
      clearTimeout(start);
      if (timer === undefined) return;
      clearInterval(timer);
      stream.write('\r\x1b[K');
    },
  };
}
