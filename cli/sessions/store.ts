/**
 * Per-session records under $CATTY_HOME/sessions/: `<label>.json` (which API, which local
 * directory sync-back writes into) and `<label>.manifest.json`: the base of the three-way
 * rule, per path the sha256 + exec bit of the session's version this laptop last had — what was
 * uploaded, then each version sync-back applied or saved as a conflict copy; a delete that
 * reached the laptop removes the path. Only the CLI knows it; the runtime sends what changed.
 */
import fs from 'node:fs';
import path from 'node:path';
import * as z from '../../session-runtime/wire/zod.js';
import type { Context } from '../context.js';
import { ensureHome, paths } from '../config.js';
import { ensurePrivateDir, readJsonFile, writePrivateFileAtomic } from '../fs-util.js';

export const SessionRecord = z.object({
  label: z.string(),
  id: z.string(),
  apiUrl: z.string(),
  localDir: z.string(),
  createdAt: z.string(),
});
export type SessionRecord = z.infer<typeof SessionRecord>;

export const ManifestEntry = z.object({ sha256: z.string(), executable: z.boolean() });
export type ManifestEntry = z.infer<typeof ManifestEntry>;
export const Manifest = z.object({ version: z.literal(1), files: z.record(z.string(), ManifestEntry) });
export type Manifest = z.infer<typeof Manifest>;

function sessionsDir(ctx: Context): string {
  ensureHome(ctx);
  const dir = paths.sessions(ctx.home);
  ensurePrivateDir(dir);
  return dir;
}

export function recordPath(ctx: Context, label: string): string {
  return path.join(sessionsDir(ctx), `${label}.json`);
}

export function manifestPath(ctx: Context, label: string): string {
  return path.join(sessionsDir(ctx), `${label}.manifest.json`);
}

export function saveRecord(ctx: Context, record: SessionRecord): void {
  writePrivateFileAtomic(recordPath(ctx, record.label), JSON.stringify(record, null, 2) + '\n');
}

export function loadRecord(ctx: Context, label: string): SessionRecord | null {
  const parsed = SessionRecord.safeParse(readJsonFile(recordPath(ctx, label)));
  return parsed.success ? parsed.data : null;
}

export function removeRecord(ctx: Context, label: string): void {
  fs.rmSync(recordPath(ctx, label), { force: true });
  fs.rmSync(manifestPath(ctx, label), { force: true });
}

export function loadManifest(ctx: Context, label: string): Map<string, ManifestEntry> {
  const parsed = Manifest.safeParse(readJsonFile(manifestPath(ctx, label)));
  return new Map(parsed.success ? Object.entries(parsed.data.files) : []);
}

export function saveManifest(ctx: Context, label: string, files: Map<string, ManifestEntry>): void {
  const body: Manifest = { version: 1, files: Object.fromEntries(files) };
  writePrivateFileAtomic(manifestPath(ctx, label), JSON.stringify(body));
}

/** A manifest kept in memory and written back debounced (atomic writes), flushed on close. */
export class ManifestStore {
  readonly files: Map<string, ManifestEntry>;
  readonly #save: (files: Map<string, ManifestEntry>) => void;
  readonly #debounceMs: number;
  #timer: NodeJS.Timeout | null = null;

  constructor(files: Map<string, ManifestEntry>, save: (files: Map<string, ManifestEntry>) => void, debounceMs = 250) {
    this.files = files;
    this.#save = save;
    this.#debounceMs = debounceMs;
  }

  static forSession(ctx: Context, label: string): ManifestStore {
    return new ManifestStore(loadManifest(ctx, label), (files) => saveManifest(ctx, label, files));
  }

  get(rel: string): ManifestEntry | undefined {
    return this.files.get(rel);
  }

  set(rel: string, entry: ManifestEntry): void {
    this.files.set(rel, entry);
    this.#schedule();
  }

  delete(rel: string): void {
    if (this.files.delete(rel)) this.#schedule();
  }

  flush(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#save(this.files);
  }

  #schedule(): void {
    if (this.#timer) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#save(this.files);
    }, this.#debounceMs);
    this.#timer.unref();
  }
}
