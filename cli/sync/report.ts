/**
 * What sync-back did during one attach: a log file while attached, a summary on detach/exit.
 *
 * The summary is per file, not per message: a path written five times is one file written, a
 * conflict copy refreshed by a later version is one conflict. Written, deleted, refused and
 * skipped are a path's latest outcome (a file refused, then written, counts as written);
 * conflicts and kept deletes stay listed, since each left something here for the user to look at.
 *
 * Bounded whatever the session sends (SECURITY.md 48): the first TRACKED_MAX paths are kept
 * with their outcome; past them an outcome is only counted (per message, so a path met again
 * past the cap counts again, and the summary says so). Refused and skipped paths are
 * logged one by one up to LOGGED_MAX per attach, then counted in one closing line; the log
 * itself rotates (sync-log.ts).
 */
import { escapeForTerminal } from '../../session-runtime/wire/safe-path.js';
import { SyncLog } from './sync-log.js';

const LISTED_MAX = 10;
/** Paths kept with their outcome, and conflict and kept-delete paths kept, per attach. */
export const TRACKED_MAX = 1000;
/** Refused and skipped paths logged one by one per attach. */
export const LOGGED_MAX = 1000;

type Kind = 'written' | 'deleted' | 'refused' | 'skipped';
type Outcome = { kind: 'written' } | { kind: 'deleted' } | { kind: 'refused'; why: string } | { kind: 'skipped'; why: string };

/** A set that keeps its first `max` members and counts the others it is given. */
class CappedSet {
  readonly items = new Set<string>();
  overflow = 0;
  add(item: string): void {
    if (this.items.has(item)) return;
    if (this.items.size < TRACKED_MAX) this.items.add(item);
    else this.overflow++;
  }
  get size(): number {
    return this.items.size + this.overflow;
  }
}

export class SyncReport {
  /** Each tracked path's latest outcome, in the order the paths were first met. */
  readonly #outcomes = new Map<string, Outcome>();
  /** Outcomes of paths past TRACKED_MAX, counted per message. */
  readonly #overflow: Record<Kind, number> = { written: 0, deleted: 0, refused: 0, skipped: 0 };
  readonly #conflicts = new CappedSet();
  readonly #keptDeletes = new CappedSet();
  readonly #log: SyncLog | null;
  #logged = 0;
  readonly #unlogged = { refused: 0, skipped: 0 };

  constructor(logFile: string | null) {
    this.#log = logFile ? new SyncLog(logFile) : null;
  }

  wrote(rel: string): void {
    this.#set(rel, { kind: 'written' });
  }

  removed(rel: string): void {
    this.#set(rel, { kind: 'deleted' });
  }

  /** Refused, and logged (the first LOGGED_MAX of this attach). */
  refuse(rel: string, why: string): void {
    this.#set(rel, { kind: 'refused', why });
    this.#logLimited('refused', `refused ${rel}: ${why}`);
  }

  /** Not sent by the session (too large, unreadable), and logged like a refusal. */
  skip(rel: string, why: string): void {
    this.#set(rel, { kind: 'skipped', why });
    this.#logLimited('skipped', `skipped ${rel}: ${why}`);
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

  get refusedCount(): number {
    return this.#count('refused');
  }

  get skippedCount(): number {
    return this.#count('skipped');
  }

  /** The conflicts kept by name (the first TRACKED_MAX). */
  get conflicts(): string[] {
    return [...this.#conflicts.items];
  }

  get keptDeletes(): string[] {
    return [...this.#keptDeletes.items];
  }

  /** The refused paths kept with their reason (the tracked ones; refusedCount has them all). */
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
    const past = Object.values(this.#overflow).some((n) => n > 0) ? ` (past the first ${TRACKED_MAX} files, counted per message)` : '';
    const lines = [`sync-back: ${this.written} written, ${this.deleted} deleted, ${this.#conflicts.size} conflicts, ${this.refusedCount} refused${past}`];
    const list = (title: string, items: string[], total: number) => {
      if (total === 0) return;
      lines.push(`  ${title}:`);
      for (const item of items.slice(0, LISTED_MAX)) lines.push(`    ${escapeForTerminal(item)}`);
      const shown = Math.min(items.length, LISTED_MAX);
      if (total > shown) lines.push(`    … and ${total - shown} more`);
    };
    list(`conflicts (your file kept; the session's version saved as *.catty-conflict-${label}*)`, this.conflicts, this.#conflicts.size);
    list('deleted in the session but changed here (kept)', this.keptDeletes, this.#keptDeletes.size);
    list('refused', this.refused.map((r) => `${r.path}: ${r.why}`), this.refusedCount);
    list('not synced', this.skipped.map((s) => `${s.path}: ${s.why}`), this.skippedCount);
    if (logFile) lines.push(`  details: ${logFile}`);
    return lines;
  }

  async close(): Promise<void> {
    const { refused, skipped } = this.#unlogged;
    if (refused + skipped > 0) this.log(`… and ${refused} more refused, ${skipped} more skipped, not logged one by one`);
    this.#log?.close();
  }

  #set(rel: string, outcome: Outcome): void {
    if (this.#outcomes.has(rel) || this.#outcomes.size < TRACKED_MAX) this.#outcomes.set(rel, outcome);
    else this.#overflow[outcome.kind]++;
  }

  #logLimited(kind: 'refused' | 'skipped', line: string): void {
    if (this.#logged >= LOGGED_MAX) {
      this.#unlogged[kind]++;
      return;
    }
    this.#logged++;
    this.log(line);
  }

  #count(kind: Kind): number {
    let n = this.#overflow[kind];
    for (const outcome of this.#outcomes.values()) if (outcome.kind === kind) n++;
    return n;
  }

  #withReason(kind: 'refused' | 'skipped'): Array<{ path: string; why: string }> {
    const items: Array<{ path: string; why: string }> = [];
    for (const [rel, outcome] of this.#outcomes) if (outcome.kind === kind) items.push({ path: rel, why: outcome.why });
    return items;
  }
}
