/**
 * The current screen, kept by a headless terminal emulator so a client whose offset fell out
 * of the output log can be repainted.
 *
 * Parsing costs CPU on the relay's thread, so it is kept off the hot path: output is queued
 * (copied: the PTY reuses its read buffer) and handed to the emulator on a DRAIN_INTERVAL_MS
 * timer. A quiet or slow terminal — an echo, a TUI redrawing at human speed,
 * anything up to PARSE_BUDGET_BYTES per interval (2 MiB/s) — is parsed whole, byte for byte.
 *
 * A flood (more than that in an interval) is not parsed, nor even queued, while it lasts: what
 * was queued is skipped and new output only advances `#end`. Once an interval passes with no
 * output — or at once when a client needs the screen — its newest FLOOD_TAIL_BYTES are read
 * back from the output log and parsed. Queueing a flood's buffers (let alone parsing them)
 * cost the runtime a third of its CPU during `cat bigfile`: V8 promoted them and ran a full
 * mark-compact every ~150 ms (tests/bench/p1-cpu.mjs). The tail holds far more than the
 * scrollback kept (SCROLLBACK_LINES), so the restored screen looks the same; the price is that a
 * mode change buried in the skipped part of a flood is missed. Resizes during a flood collapse
 * into the last one, applied before the tail.
 *
 * Memory: the emulator (~8 MB of RSS with its modules) is created lazily — when a client first
 * needs a screen, or once ACTIVATE_AFTER_BYTES of output are queued. Until then the output is
 * only queued, so an idle runtime whose agent printed a little never loads it; a screen is
 * needed only once the output log has wrapped anyway.
 */
import type { SerializeAddon as SerializeAddonType } from '@xterm/addon-serialize';
import type { Terminal as TerminalType } from '@xterm/headless';

interface Xterm {
  Terminal: typeof TerminalType;
  SerializeAddon: typeof SerializeAddonType;
}
let xtermLoading: Promise<Xterm> | null = null;
function loadXterm(): Promise<Xterm> {
  xtermLoading ??= Promise.all([import('@xterm/headless'), import('@xterm/addon-serialize')]).then(([headless, serialize]) => ({
    Terminal: headless.default.Terminal,
    SerializeAddon: serialize.default.SerializeAddon,
  }));
  return xtermLoading;
}

/** Where a flood's tail is read back from: the output log, which holds every byte written. */
export interface OutputSource {
  readonly start: number;
  readonly end: number;
  slice(offset: number, maxBytes?: number): Buffer;
}

/** Output queued before the emulator exists; past this it is created. */
export const ACTIVATE_AFTER_BYTES = 1024 * 1024;

/** Scrollback kept for restores: enough context to be useful, cheap to serialize. */
const SCROLLBACK_LINES = 1000;
export const DRAIN_INTERVAL_MS = 16;
/** Per interval: up to this much output (queued + not yet parsed) is parsed, exactly. */
export const PARSE_BUDGET_BYTES = 32 * 1024;
/** After a flood, this much of its newest output is parsed (1000 lines of 256 columns). */
export const FLOOD_TAIL_BYTES = 256 * 1024;

type Resize = { kind: 'resize'; cols: number; rows: number };
type Op = { kind: 'data'; data: Uint8Array } | Resize;

export class Screen {
  #term: TerminalType | null = null;
  #serializer: SerializeAddonType | null = null;
  #activating: Promise<void> | null = null;
  #queue: Op[] = [];
  #queuedBytes = 0;
  /** Bytes handed to the emulator that it has not parsed yet. */
  #unparsedBytes = 0;
  #timer: NodeJS.Timeout | null = null;
  /** Absolute output offset up to which bytes have been handed to the emulator (or skipped). */
  #fedOffset = 0;
  /** Up to here bytes were really handed to the emulator (never re-read: skipped ones may be). */
  #handedOffset = 0;
  /** Absolute offset one past the last byte written (= the log's end). */
  #end = 0;
  /** Whether output arrived since the last tick. */
  #wroteSinceTick = false;
  /** In a flood: nothing queued; the last resize seen in it, if any. */
  #flooding = false;
  #floodResize: Resize | null = null;
  /** Bytes skipped under flood, and bytes handed to the emulator: for tests and measurements. */
  skippedBytes = 0;
  parsedBytes = 0;
  #disposed = false;

  constructor(
    readonly initialCols: number,
    readonly initialRows: number,
    private readonly source: OutputSource,
  ) {}

  /** Takes output (already appended to the source); order with `resize` is kept. */
  write(data: Uint8Array): void {
    if (this.#disposed) return;
    this.#end += data.length;
    this.#wroteSinceTick = true;
    if (this.#flooding) return;
    // A copy: the PTY reuses its read buffer (at most PARSE_BUDGET_BYTES per interval, or the
    // flood branch above takes over).
    this.#queue.push({ kind: 'data', data: Buffer.from(data) });
    this.#queuedBytes += data.length;
    if (!this.#term && this.#queuedBytes >= ACTIVATE_AFTER_BYTES) void this.#activate();
    this.#schedule();
  }

  resize(cols: number, rows: number): void {
    if (this.#disposed) return;
    if (this.#flooding) this.#floodResize = { kind: 'resize', cols, rows };
    else this.#queue.push({ kind: 'resize', cols, rows });
    this.#schedule();
  }

  /**
   * The serialized screen after every byte written so far has been parsed (a flood: its tail),
   * and the output offset it corresponds to (the first byte not included).
   */
  async snapshot(): Promise<{ screen: string; offset: number }> {
    await this.#activate();
    const term = this.#term;
    if (!term || !this.#serializer) return { screen: '', offset: this.#fedOffset };
    if (this.#flooding) this.#endFlood();
    this.#drain();
    const offset = this.#fedOffset;
    await new Promise<void>((resolve) => term.write('', resolve));
    return { screen: this.#serializer.serialize(), offset };
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#queue = [];
    this.#term?.dispose();
  }

  /** Creates the emulator; what was queued so far is handed over by the next tick. */
  #activate(): Promise<void> {
    this.#activating ??= loadXterm().then(({ Terminal, SerializeAddon }) => {
      if (this.#disposed) return;
      this.#term = new Terminal({ cols: this.initialCols, rows: this.initialRows, scrollback: SCROLLBACK_LINES, allowProposedApi: true });
      this.#serializer = new SerializeAddon();
      this.#term.loadAddon(this.#serializer);
      this.#schedule();
    });
    return this.#activating;
  }

  #schedule(): void {
    if (this.#timer || this.#disposed || !this.#term || (this.#queue.length === 0 && !this.#flooding)) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#tick();
    }, DRAIN_INTERVAL_MS);
  }

  #tick(): void {
    const wrote = this.#wroteSinceTick;
    this.#wroteSinceTick = false;
    if (this.#flooding) {
      if (!wrote) this.#endFlood();
    } else if (wrote && this.#queuedBytes + this.#unparsedBytes > PARSE_BUDGET_BYTES) this.#startFlood();
    this.#drain();
    this.#schedule();
  }

  /** Skips what is queued (keeping its last resize) and stops queueing. */
  #startFlood(): void {
    this.#flooding = true;
    for (const op of this.#queue) if (op.kind === 'resize') this.#floodResize = op;
    this.#queue = [];
    this.#skipTo(this.#end);
  }

  /** Queues the flood's last resize and its tail, read back from the source. */
  #endFlood(): void {
    this.#flooding = false;
    if (this.#floodResize) this.#queue.push(this.#floodResize);
    this.#floodResize = null;
    // The source always holds the last bytes written (the relay appends before writing here);
    // if it ever did not, skipping them keeps the offsets right at the cost of the screen.
    // From what was handed over, not from what the flood skipped: a flood found only once it was
    // over (all of it queued before the emulator's first tick) is all skipped, and its tail is
    // exactly what the screen needs.
    const from = Math.max(this.#end - FLOOD_TAIL_BYTES, this.source.start, this.#handedOffset);
    const tail = this.source.end === this.#end && from < this.#end ? this.source.slice(from) : null;
    this.#skipTo(tail ? from : this.#end);
    if (tail) {
      this.#queue.push({ kind: 'data', data: tail });
      this.#queuedBytes += tail.length;
    }
  }

  /** Marks the bytes from `#fedOffset` up to `offset` as skipped (nothing may be queued); an
   * `offset` before `#fedOffset` takes skipped bytes back (a flood's tail, read again). */
  #skipTo(offset: number): void {
    this.skippedBytes += offset - this.#fedOffset;
    this.#fedOffset = offset;
    this.#queuedBytes = 0;
  }

  /** Hands everything queued to the emulator, in order with resizes. */
  #drain(): void {
    const term = this.#term;
    if (this.#disposed || !term) return;
    const ops = this.#queue;
    this.#queue = [];
    this.#queuedBytes = 0;
    let pending: Uint8Array[] = [];
    const flush = (): void => {
      if (pending.length === 0) return;
      const data = pending.length === 1 ? pending[0]! : Buffer.concat(pending);
      pending = [];
      this.#unparsedBytes += data.length;
      this.#fedOffset += data.length;
      this.#handedOffset = this.#fedOffset;
      this.parsedBytes += data.length;
      term.write(data, () => (this.#unparsedBytes -= data.length));
    };
    for (const op of ops) {
      if (op.kind === 'data') {
        pending.push(op.data);
        continue;
      }
      flush();
      // Through the write queue, so bytes written before the resize are parsed at the old size.
      term.write('', () => term.resize(op.cols, op.rows));
    }
    flush();
  }
}
