/** What sync-back did during one attach: a log file while attached, a summary on detach/exit. */
import fs from 'node:fs';
import path from 'node:path';
import { escapeForTerminal } from '../../session-runtime/wire/safe-path.js';
import { ensurePrivateDir } from '../fs-util.js';

const LISTED_MAX = 10;

export class SyncReport {
  written = 0;
  deleted = 0;
  readonly conflicts: string[] = [];
  readonly keptDeletes: string[] = [];
  readonly refused: Array<{ path: string; why: string }> = [];
  readonly skipped: Array<{ path: string; why: string }> = [];
  readonly #log: fs.WriteStream | null;

  constructor(logFile: string | null) {
    if (logFile) {
      ensurePrivateDir(path.dirname(logFile));
      this.#log = fs.createWriteStream(logFile, { flags: 'a', mode: 0o600 });
      this.#log.on('error', () => undefined);
    } else {
      this.#log = null;
    }
  }

  log(line: string): void {
    this.#log?.write(`${new Date().toISOString()} ${escapeForTerminal(line)}\n`);
  }

  get empty(): boolean {
    return this.written + this.deleted + this.conflicts.length + this.keptDeletes.length + this.refused.length + this.skipped.length === 0;
  }

  /** Lines for the terminal, control characters escaped (SECURITY.md 17). */
  summary(label: string, logFile: string | null): string[] {
    if (this.empty) return [];
    const lines = [`sync-back: ${this.written} written, ${this.deleted} deleted, ${this.conflicts.length} conflicts, ${this.refused.length} refused`];
    const list = (title: string, items: string[]) => {
      if (items.length === 0) return;
      lines.push(`  ${title}:`);
      for (const item of items.slice(0, LISTED_MAX)) lines.push(`    ${escapeForTerminal(item)}`);
      if (items.length > LISTED_MAX) lines.push(`    … and ${items.length - LISTED_MAX} more`);
    };
    list(`conflicts (your file kept; the session's version saved as *.catty-conflict-${label}*)`, this.conflicts);
    list('deleted in the session but changed here (kept)', this.keptDeletes);
    list('refused', this.refused.map((r) => `${r.path}: ${r.why}`));
    list('not synced', this.skipped.map((s) => `${s.path}: ${s.why}`));
    if (logFile) lines.push(`  details: ${logFile}`);
    return lines;
  }

  async close(): Promise<void> {
    const log = this.#log;
    if (!log) return;
    await new Promise<void>((resolve) => log.end(resolve));
  }
}
