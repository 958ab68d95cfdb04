/** Colours (picocolors), off with NO_COLOR or when the stream is not a TTY. */
import pc from 'picocolors';

export function colorsEnabled(env: NodeJS.ProcessEnv, stream: { isTTY?: boolean }): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '0') return true;
  return stream.isTTY === true;
}

export function createColors(env: NodeJS.ProcessEnv, stream: { isTTY?: boolean }) {
  return pc.createColors(colorsEnabled(env, stream));
}

/** A simple left-aligned text table, one string per line. */
export function tableLines(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  return [line(header), ...rows.map(line)];
}

export function table(header: string[], rows: string[][]): string {
  return tableLines(header, rows).join('\n');
}

/** "1 file", "3 files"; `nouns` for an irregular plural. */
export const plural = (n: number, noun: string, nouns = `${noun}s`): string => `${n} ${n === 1 ? noun : nouns}`;

/** "3m", "2h", "5d" from milliseconds. */
export function formatAge(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

/** A one-line spinner on a TTY stream; a single line otherwise. */
export function spinner(stream: { write(s: string): unknown; isTTY?: boolean }, text: string): { stop(final?: string): void } {
  if (!stream.isTTY) {
    stream.write(`${text}\n`);
    return { stop: (final) => void (final && stream.write(`${final}\n`)) };
  }
  const frames = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
  let i = 0;
  const timer = setInterval(() => stream.write(`\r${frames[i++ % frames.length]} ${text}`), 80);
  timer.unref();
  return {
    stop: (final) => {
      clearInterval(timer);
      stream.write(`\r\x1b[K${final ? `${final}\n` : ''}`);
    },
  };
}
