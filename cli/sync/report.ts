/**
 * What sync-back did during one attach: a log file while attached, a summary on detach/exit.
 *
 * The summary is per file, not per message: a path written five times is one file written, a
 * conflict copy refreshed by a later version is one conflict. Written, deleted, refused and
 * skipped are a path's latest outcome (a file refused, then written, counts as written);
 * conflicts and kept deletes stay listed, since each left something here for the user to look at.
 */
import fs from 'node:fs';
import path from 'node:path';
import { escapeForTerminal } from '../../session-runtime/wire/safe-path.js';
import { ensurePrivateDir } from '../fs-util.js';

const LISTED_MAX = 10;

type Outcome = { kind: 'written' } | { kind: 'deleted' } | { kind: 'refused'; why: string } | { kind: 'skipped'; why: string };

export class SyncReport {
  /** Each path's latest outcome, in the order the paths were first met. */
  readonly #outcomes = new Map<string, Outcome>();
  readonly #conflicts = new Set<string>();
  readonly #keptDeletes = new Set<string>();
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

  wrote(rel: string): void {
    this.#outcomes.set(rel, { kind: 'written' });
  }

  removed(rel: string): void {
    this.#outcomes.set(rel, { kind: 'deleted' });
  }

  refuse(rel: string, why: string): void {
    this.#outcomes.set(rel, { kind: 'refused', why });
  }

  skip(rel: string, why: string): void {
    this.#outcomes.set(rel, { kind: 'skipped', why });
  }

  /** The user's file was kept; the session's version is beside it. */
  conflict(rel: string): void {
    this.#conflicts.add(rel);
  }

  /** Deleted in the session, kept here (changed locally). */
  keptDelete(rel: string): void {
    this.#keptDeletes.add(rel);
  }

  get written(): number {
    return this.#count('written');
  }

  get deleted(): number {
    return this.#count('deleted');
  }

  get conflicts(): string[] {
    return [...this.#conflicts];
  }

  get keptDeletes(): string[] {
    return [...this.#keptDeletes];
  }

  get refused(): Array<{ path: string; why: string }> {
    return this.#withReason('refused');
  }

  get skipped(): Array<{ path: string; why: string }> {
    return this.#withReason('skipped');
  }

  log(line: string): void {
    this.#log?.write(`${new Date().toISOString()} ${escapeForTerminal(line)}\n`);
  }

  get empty(): boolean {
    return this.#outcomes.size + this.#conflicts.size + this.#keptDeletes.size === 0;
  }

  /** Lines for the terminal, control characters escaped (SECURITY.md 17). */
  summary(label: string, logFile: string | null): string[] {
    if (this.empty) return [];
    const refused = this.refused;
    const lines = [`sync-back: ${this.written} written, ${this.deleted} deleted, ${this.#conflicts.size} conflicts, ${refused.length} refused`];
    const list = (title: string, items: string[]) => {
      if (items.length === 0) return;
      lines.push(`  ${title}:`);
      for (const item of items.slice(0, LISTED_MAX)) lines.push(`    ${escapeForTerminal(item)}`);
      if (items.length > LISTED_MAX) lines.push(`    … and ${items.length - LISTED_MAX} more`);
    };
    list(`conflicts (your file kept; the session's version saved as *.catty-conflict-${label}*)`, this.conflicts);
    list('deleted in the session but changed here (kept)', this.keptDeletes);
    list('refused', refused.map((r) => `${r.path}: ${r.why}`));
    list('not synced', this.skipped.map((s) => `${s.path}: ${s.why}`));
    if (logFile) lines.push(`  details: ${logFile}`);
    return lines;
  }

  async close(): Promise<void> {
    const log = this.#log;
    if (!log) return;
    await new Promise<void>((resolve) => log.end(resolve));
  }

  #count(kind: 'written' | 'deleted'): number {
    let n = 0;
    for (const outcome of this.#outcomes.values()) if (outcome.kind === kind) n++;
    return n;
  }

  #withReason(kind: 'refused' | 'skipped'): Array<{ path: string; why: string }> {
    const items: Array<{ path: string; why: string }> = [];
    for (const [rel, outcome] of this.#outcomes) if (outcome.kind === kind) items.push({ path: rel, why: outcome.why });
    return items;
  }
}
