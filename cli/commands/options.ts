/** Shared option and argument parsers (commander `argParser`s throw InvalidArgumentError). */
import { InvalidArgumentError } from 'commander';

const DURATION_UNITS_SEC: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/** "90s", "30m", "2h", "1d", "1h30m" or plain seconds → seconds. */
export function parseDurationSec(text: string): number {
  const trimmed = text.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const re = /(\d+)([smhd])/gy;
  let total = 0;
  let consumed = 0;
  for (let m = re.exec(trimmed); m; m = re.exec(trimmed)) {
    total += Number(m[1]) * (DURATION_UNITS_SEC[m[2] ?? 's'] ?? 1);
    consumed = re.lastIndex;
  }
  if (consumed === 0 || consumed !== trimmed.length) {
    throw new InvalidArgumentError('expected a duration like 90s, 30m, 2h, 1d or 1h30m');
  }
  return total;
}

const LABEL_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;

/** Labels are used in file names under $CATTY_HOME: keep them boring. */
export function parseLabel(text: string): string {
  if (!LABEL_PATTERN.test(text)) throw new InvalidArgumentError('not a session label (like brave-otter-1234)');
  return text;
}

export function parsePositiveInt(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('expected a positive integer');
  return n;
}
