/**
 * The sync-back rule as a property (issue 19, item 1). Seeded random sequences of local edits and
 * deletes, session writes and deletes, sends, deliveries, detaches, connects and cut connections
 * run through the real SyncApplier on real files. The runtime is simulated doing what a runtime
 * may do: send the session's version of what changed (read when sent), in the order things
 * changed, whole or in chunks; lose what is on the wire when the connection goes; send again to
 * the next client what it sent the one before (all of it to a fresh `catty connect`, at least
 * what was lost to a client that resumes). The laptop keeps its base manifest between attaches,
 * as on disk.
 *
 * The base of a path is the session's version the laptop last got (the upload at first). For
 * every message, checked on the directory before and after it:
 *   - the session's version equal to the base changes nothing at all;
 *   - no lost edit: a file the user changed since the base is not overwritten or deleted;
 *   - no resurrected file: a file the user deleted is not brought back;
 *   - no conflict copy unless both the user and the session changed the file since the base;
 *   - a conflict copy the user edited is never replaced (the next one goes beside it);
 * and the directory is exactly what the three-way rule makes of it (model below). At the end,
 * with everything delivered, every file the user never touched holds the session's version.
 *
 * A failure names its seed and replays its steps: CATTY_PROPERTY_SEED=<seed> runs that one.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ManifestStore, type ManifestEntry } from '../../cli/sessions/store.js';
import { conflictPath } from '../../cli/sync/local-fs.js';
import { SyncApplier } from '../../cli/sync/applier.js';
import { SyncReport } from '../../cli/sync/report.js';
import { parseRuntimeMessage, type RuntimeMessage } from '../../session-runtime/wire/protocol.js';
import { onCleanup } from '../helpers/cleanup.js';

const SEQUENCES = 300;
const STEPS = 40;
const LABEL = 'prop-cat-0001';
const PATHS = ['a.txt', 'b.txt', 'd/c.txt'] as const;
/** Few contents, so the user and the session often make the same edit, or go back to the base. */
const CONTENTS = ['', 'one\n', 'two\n', 'three\n'];

type Version = { content: string; executable: boolean };
type Maybe = Version | null;

const sha = (s: string) => crypto.createHash('sha256').update(s).digest('hex');
const same = (a: Maybe, b: Maybe) => (a === null || b === null ? a === b : a.content === b.content && a.executable === b.executable);
const sameContent = (a: Maybe, b: Maybe) => (a === null || b === null ? a === b : a.content === b.content);
const show = (v: Maybe) => (v === null ? 'absent' : `${JSON.stringify(v.content)}${v.executable ? '+x' : ''}`);

/** mulberry32: a tiny seeded PRNG. */
function prng(seed: number) {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    int: (n: number) => Math.floor(next() * n),
    pick: <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!,
    chance: (p: number) => next() < p,
  };
}
type Rng = ReturnType<typeof prng>;

interface WireItem {
  msg: RuntimeMessage;
  path: string;
  /** The session's version it carries, on the message that completes it (a delete, a whole
   * write, a transfer's last chunk); undefined on the others. */
  completes?: Maybe;
}

/** What a runtime may do, per sender.ts: see the file comment. */
class SimulatedRuntime {
  readonly session = new Map<string, Maybe>();
  /** Changed and not sent yet, in the order of their last change (the watcher's `ready`). */
  readonly pending = new Set<string>();
  /** Sent to the current or last client, not known to have arrived. */
  readonly sent = new Set<string>();
  /** Lost with the last connection, to be sent again. */
  lost = new Set<string>();
  wire: WireItem[] = [];
  #transfer = 0;

  change(rel: string, version: Maybe): void {
    this.session.set(rel, version);
    this.pending.delete(rel);
    this.pending.add(rel);
  }

  sendOne(rng: Rng): boolean {
    const rel = this.pending.values().next().value;
    if (rel === undefined) return false;
    this.pending.delete(rel);
    this.sent.add(rel);
    const version = this.session.get(rel) ?? null;
    const push = (msg: RuntimeMessage, completes?: Maybe) => this.wire.push({ msg: wireRoundTrip(msg), path: rel, ...(completes !== undefined ? { completes } : {}) });
    if (!version) return (push({ type: 'file_change', path: rel, action: 'delete' }, null), true);
    const bytes = Buffer.from(version.content);
    const head = { type: 'file_change' as const, path: rel, action: 'write' as const, executable: version.executable, size: bytes.length, sha256: sha(version.content) };
    if (!rng.chance(0.25)) return (push({ ...head, content: bytes.toString('base64') }, version), true);
    const chunks = 1 + rng.int(3);
    const transfer = this.#transfer++;
    push({ ...head, chunks, transfer });
    const per = Math.ceil(bytes.length / chunks);
    for (let index = 0; index < chunks; index++) {
      const data = bytes.subarray(index * per, (index + 1) * per).toString('base64');
      push({ type: 'file_chunk', transfer, index, data }, index === chunks - 1 ? version : undefined);
    }
    return true;
  }

  /** The connection went: what was on the wire is lost. */
  disconnect(): void {
    for (const item of this.wire) this.lost.add(item.path);
    this.wire = [];
  }

  /** A client enabled sync: a fresh one (no resume offset) gets everything sent before again. */
  connect(fresh: boolean, rng: Rng): void {
    for (const rel of this.sent) if (fresh || this.lost.has(rel) || rng.chance(0.3)) this.pending.add(rel);
    this.sent.clear();
    this.lost.clear();
  }
}

/** As the CLI gets it: JSON over the socket, parsed by the protocol module. */
function wireRoundTrip(msg: RuntimeMessage): RuntimeMessage {
  const parsed = parseRuntimeMessage(JSON.stringify(msg));
  if (!parsed) throw new Error(`the simulated runtime sent an invalid message: ${JSON.stringify(msg)}`);
  return parsed;
}

/** The laptop: a directory, the base manifest as saved on disk, an applier while attached. */
class Laptop {
  saved: Map<string, ManifestEntry>;
  applier: SyncApplier | null = null;

  constructor(
    readonly root: string,
    manifest: Map<string, ManifestEntry>,
  ) {
    this.saved = manifest;
  }

  attach(): void {
    const store = new ManifestStore(new Map(this.saved), (files) => (this.saved = new Map(files)), 60_000);
    this.applier = new SyncApplier({ root: this.root, label: LABEL, manifest: store, report: new SyncReport(null) });
  }

  async detach(): Promise<void> {
    await this.applier?.close();
    this.applier = null;
  }

  read(rel: string): Maybe {
    const abs = path.join(this.root, rel);
    let stat;
    try {
      stat = fs.lstatSync(abs);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
    if (!stat.isFile()) throw new Error(`${rel} is not a regular file`);
    return { content: fs.readFileSync(abs, 'utf8'), executable: (stat.mode & 0o100) !== 0 };
  }

  write(rel: string, version: Version): void {
    const abs = path.join(this.root, rel);
    fs.mkdirSync(path.dirname(abs), { recursive: true });
    fs.writeFileSync(abs, version.content);
    fs.chmodSync(abs, version.executable ? 0o755 : 0o644);
  }

  files(): string[] {
    return fs
      .readdirSync(this.root, { recursive: true, withFileTypes: true })
      .filter((e) => !e.isDirectory())
      .map((e) => path.relative(this.root, path.join(e.parentPath, e.name)).split(path.sep).join('/'))
      .sort();
  }
}

const copyOf = (rel: string, n = 1) => conflictPath(rel, LABEL, n);

/** What the user should have, per path: the three-way rule, written from DESIGN.md. */
interface PathModel {
  /** The session's version this laptop last got. */
  base: Maybe;
  local: Maybe;
  /** The conflict copies beside it: [i] is the (i+1)-th name; null where there is none. */
  copies: Maybe[];
}

function applyRule(m: PathModel, remote: Maybe): void {
  if (same(remote, m.base)) return; // the session did not change it: nothing to do
  if (remote === null) {
    // A delete: the file goes only if the user left it as it was; the base forgets it anyway.
    if (m.local === null || sameContent(m.local, m.base)) m.local = null;
    m.base = null;
    return;
  }
  if (same(m.local, remote)) m.base = remote; // already there
  else if (sameContent(m.local, m.base)) m.local = m.base = remote; // the user left it: take the session's
  else if (m.local !== null && m.local.content === remote.content) m.base = remote; // same edit on both sides
  else {
    // Both changed: the user's stays, the session's beside it — in the first copy that is free
    // or still holds the base (the copy written last, untouched), never over another.
    const free = m.copies.findIndex((c) => c === null || (m.base !== null && c.content === m.base.content));
    m.copies[free === -1 ? m.copies.length : free] = remote;
    m.base = remote;
  }
}

/** The copies on disk, as many names as the model has and one more. */
function readCopies(laptop: Laptop, rel: string, m: PathModel): Maybe[] {
  const copies = Array.from({ length: m.copies.length + 1 }, (_, i) => laptop.read(copyOf(rel, i + 1)));
  while (copies.length > 0 && copies.at(-1) === null) copies.pop();
  return copies;
}

function trimmed(copies: Maybe[]): Maybe[] {
  const out = [...copies];
  while (out.length > 0 && out.at(-1) === null) out.pop();
  return out;
}

async function runSequence(seed: number, dir: string): Promise<void> {
  const rng = prng(seed);
  const root = fs.mkdtempSync(path.join(dir, `seq-${seed}-`));
  const trace: string[] = [];
  const runtime = new SimulatedRuntime();
  const model = new Map<string, PathModel>();
  const touched = new Set<string>();
  const manifest = new Map<string, ManifestEntry>();
  const laptop = new Laptop(root, manifest);
  const randomVersion = (): Version => ({ content: rng.pick(CONTENTS), executable: rng.chance(0.2) });

  // The upload: the laptop, the session and the base agree.
  for (const rel of PATHS) {
    const version = rng.chance(0.7) ? randomVersion() : null;
    model.set(rel, { base: version, local: version, copies: [] });
    runtime.session.set(rel, version);
    if (!version) continue;
    laptop.write(rel, version);
    manifest.set(rel, { sha256: sha(version.content), executable: version.executable });
  }
  trace.push(`upload: ${PATHS.map((p) => `${p}=${show(model.get(p)!.base)}`).join(' ')}`);

  const expectDirectory = (when: string) => {
    const expected: string[] = [];
    for (const [rel, m] of model) {
      if (m.local) expected.push(rel);
      m.copies.forEach((c, i) => c && expected.push(copyOf(rel, i + 1)));
      expect(laptop.read(rel), `${rel} ${when}`).toEqual(m.local);
      expect(readCopies(laptop, rel, m), `${copyOf(rel)}… ${when}`).toEqual(trimmed(m.copies));
    }
    expect(laptop.files(), `the files ${when}`).toEqual(expected.sort());
  };

  const deliver = async (item: WireItem) => {
    const applier = laptop.applier!;
    if (item.completes === undefined) {
      applier.handle(item.msg as Parameters<SyncApplier['handle']>[0]);
      await applier.idle();
      return;
    }
    const rel = item.path;
    const remote = item.completes;
    const m = model.get(rel)!;
    const before = { local: laptop.read(rel), copies: readCopies(laptop, rel, m) };
    applier.handle(item.msg as Parameters<SyncApplier['handle']>[0]);
    await applier.idle();
    const after = { local: laptop.read(rel), copies: readCopies(laptop, rel, m) };
    const what = `${rel}: session ${show(remote)}, base ${show(m.base)}, local ${show(before.local)} → ${show(after.local)}, copies ${before.copies.map(show).join(',')} → ${after.copies.map(show).join(',')}`;
    if (same(remote, m.base)) expect(after, `the session's version is the base, yet something changed: ${what}`).toEqual(before);
    if (before.local === null && after.local !== null) expect(m.base, `resurrected: ${what}`).toBeNull();
    if (!same(after.local, before.local)) expect(sameContent(before.local, m.base), `lost edit: ${what}`).toBe(true);
    if (after.copies.some((c, i) => !same(c, before.copies[i] ?? null))) expect(!sameContent(before.local, m.base) && !same(remote, m.base), `needless conflict copy: ${what}`).toBe(true);
    applyRule(m, remote);
    trace.push(`  applied ${what}`);
  };

  /** Whether the last delivered message left a transfer half done (its temp file exists). */
  let midTransfer = false;
  const step = async (action: string) => {
    const rel = rng.pick(PATHS);
    const m = model.get(rel)!;
    switch (action) {
      case 'local edit': {
        const version = { content: rng.pick(CONTENTS), executable: m.local?.executable ?? false };
        const abs = path.join(root, rel);
        fs.mkdirSync(path.dirname(abs), { recursive: true });
        fs.writeFileSync(abs, version.content);
        m.local = version;
        touched.add(rel);
        trace.push(`local edit ${rel} = ${show(version)}`);
        return;
      }
      case 'local delete':
        fs.rmSync(path.join(root, rel), { force: true });
        m.local = null;
        touched.add(rel);
        trace.push(`local delete ${rel}`);
        return;
      case 'edit conflict copy': {
        // Merging by hand into a copy: it is the user's now, never replaced (a new one goes beside it).
        const i = m.copies.findIndex((c) => c !== null);
        if (i === -1) return;
        const version = { content: rng.pick(CONTENTS), executable: m.copies[i]!.executable };
        fs.writeFileSync(path.join(root, copyOf(rel, i + 1)), version.content);
        m.copies[i] = version;
        trace.push(`edit ${copyOf(rel, i + 1)} = ${show(version)}`);
        return;
      }
      case 'dismiss conflict copy':
        m.copies.forEach((_, i) => fs.rmSync(path.join(root, copyOf(rel, i + 1)), { force: true }));
        m.copies = [];
        trace.push(`dismiss ${copyOf(rel)}…`);
        return;
      case 'session write': {
        const version = randomVersion();
        runtime.change(rel, version);
        trace.push(`session write ${rel} = ${show(version)}`);
        return;
      }
      case 'session delete':
        if (!runtime.session.get(rel)) return;
        runtime.change(rel, null);
        trace.push(`session delete ${rel}`);
        return;
      case 'send': {
        const n = 1 + rng.int(3);
        for (let i = 0; i < n && runtime.sendOne(rng); i++);
        trace.push(`send ${n}`);
        return;
      }
      case 'deliver': {
        const n = 1 + rng.int(4);
        trace.push(`deliver ${n}`);
        for (let i = 0; i < n; i++) {
          const item = runtime.wire.shift();
          if (!item) break;
          await deliver(item);
          midTransfer = item.msg.type === 'file_change' ? item.msg.chunks !== undefined : item.msg.type === 'file_chunk' && item.completes === undefined;
        }
        return;
      }
      case 'detach':
        runtime.disconnect();
        await laptop.detach();
        midTransfer = false;
        trace.push('detach');
        return;
      case 'connect':
        laptop.attach();
        runtime.connect(true, rng);
        trace.push('connect');
        return;
      case 'cut':
        // The same `catty` reconnects by itself, resuming from its offset.
        runtime.disconnect();
        laptop.applier!.reconnected();
        await laptop.applier!.idle();
        runtime.connect(false, rng);
        midTransfer = false;
        trace.push('cut, resume');
        return;
      default:
        throw new Error(`unknown action ${action}`);
    }
  };

  const attachedActions = ['local edit', 'local delete', 'edit conflict copy', 'dismiss conflict copy', 'session write', 'session delete', 'send', 'send', 'deliver', 'deliver', 'deliver', 'detach', 'cut'];
  const detachedActions = ['local edit', 'local delete', 'edit conflict copy', 'dismiss conflict copy', 'session write', 'session delete', 'connect', 'connect'];
  try {
    for (let i = 0; i < STEPS; i++) {
      await step(rng.pick(laptop.applier ? attachedActions : detachedActions));
      if (!midTransfer) expectDirectory(`after step ${i}`);
    }
    // Everything reaches the laptop: one more attach until nothing is left to send.
    if (laptop.applier) await step('detach');
    await step('connect');
    while (runtime.sendOne(rng));
    for (let item = runtime.wire.shift(); item; item = runtime.wire.shift()) await deliver(item);
    await step('detach');
    expectDirectory('at the end');
    for (const [rel, m] of model) {
      const base = m.base;
      expect(base, `${rel}: the base is the session's version once everything arrived`).toEqual(runtime.session.get(rel) ?? null);
      const entry = laptop.saved.get(rel);
      expect(entry ?? null, `${rel}: the saved manifest is the base`).toEqual(base && { sha256: sha(base.content), executable: base.executable });
      if (!touched.has(rel)) expect(laptop.read(rel), `${rel}: never touched here, so it holds the session's version`).toEqual(runtime.session.get(rel) ?? null);
    }
  } catch (error) {
    throw new Error(`seed ${seed}: ${(error as Error).message}\nsteps:\n${trace.join('\n')}`, { cause: error });
  } finally {
    await laptop.detach();
    fs.rmSync(root, { recursive: true, force: true });
  }
}

describe('sync-back, the three-way rule as a property', () => {
  it(`holds for ${SEQUENCES} random sequences of edits, deletes, detaches and reconnects`, async () => {
    // tmpfs when there is one: every write the applier makes ends in an fsync.
    const parent = fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
    const dir = fs.mkdtempSync(path.join(parent, 'catty-three-way-'));
    onCleanup(() => fs.rmSync(dir, { recursive: true, force: true }));
    const only = Number(process.env.CATTY_PROPERTY_SEED);
    const seeds = Number.isInteger(only) && only > 0 ? [only] : Array.from({ length: SEQUENCES }, (_, i) => i + 1);
    for (const seed of seeds) await runSequence(seed, dir);
  }, 30_000);
});
