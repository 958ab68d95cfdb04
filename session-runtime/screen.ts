/**
 * The current screen, kept by a headless terminal emulator so a client whose offset fell out
 * of the output log can be repainted.
 *
 * Parsing costs CPU on the relay's thread, so it is kept off the hot path and bounded: output
 * is queued and handed to the emulator at most every DRAIN_INTERVAL_MS, and at most
 * PARSE_BUDGET_BYTES per drain (including what the emulator has not parsed yet). When output
 * floods faster than that (2 MiB/s), the oldest queued bytes are skipped: the screen then
 * reflects the latest output (what matters after `cat bigfile`), at the price of possibly
 * missing a mode change buried in the flood. A TUI redrawing at human speed is never skipped.
 *
 * Memory: the emulator (~8 MB of RSS with its modules) is created lazily — when a client first
 * needs a screen, or once ACTIVATE_AFTER_BYTES of output are queued (then the queue is handed
 * over whole, unskipped). Until then the output is only queued (copied compactly), so an idle
 * runtime whose agent printed a little never loads it; a screen is needed only once the output
 * log has wrapped anyway.
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

/** Output queued before the emulator exists; past this it is created. */
export const ACTIVATE_AFTER_BYTES = 1024 * 1024;

/** Scrollback kept for restores: enough context to be useful, cheap to serialize. */
const SCROLLBACK_LINES = 1000;
export const DRAIN_INTERVAL_MS = 16;
export const PARSE_BUDGET_BYTES = 32 * 1024;

type Op = { kind: 'data'; data: Uint8Array } | { kind: 'resize'; cols: number; rows: number };

export class Screen {
  #term: TerminalType | null = null;
  #serializer: SerializeAddonType | null = null;
  #activating: Promise<void> | null = null;
  readonly #initialCols: number;
  readonly #initialRows: number;
  #queue: Op[] = [];
  #queuedBytes = 0;
  /** Bytes handed to the emulator that it has not parsed yet. */
  #unparsedBytes = 0;
  #timer: NodeJS.Timeout | null = null;
  /** Absolute output offset up to which bytes have been handed to the emulator (or skipped). */
  #fedOffset = 0;
  /** Bytes skipped under flood, for measurements. */
  skippedBytes = 0;
  #disposed = false;

  constructor(cols: number, rows: number) {
    this.#initialCols = cols;
    this.#initialRows = rows;
  }

  /** Queues output; order with `resize` is kept. */
  write(data: Uint8Array): void {
    if (this.#disposed) return;
    // Before the emulator exists the queue lives long: copy, so a few bytes do not pin the
    // PTY's whole read buffer.
    this.#queue.push({ kind: 'data', data: this.#term ? data : Buffer.from(data) });
    this.#queuedBytes += data.length;
    if (!this.#term && this.#queuedBytes >= ACTIVATE_AFTER_BYTES) void this.#activate();
    this.#schedule();
  }

  resize(cols: number, rows: number): void {
    if (this.#disposed) return;
    this.#queue.push({ kind: 'resize', cols, rows });
    this.#schedule();
  }

  /**
   * The serialized screen after every queued byte has been parsed, and the output offset it
   * corresponds to (the first byte not included).
   */
  async snapshot(): Promise<{ screen: string; offset: number }> {
    await this.#activate();
    const term = this.#term;
    if (!term || !this.#serializer) return { screen: '', offset: this.#fedOffset };
    this.#drain(Infinity);
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

  /** Creates the emulator and hands it everything queued so far, unskipped. */
  #activate(): Promise<void> {
    this.#activating ??= loadXterm().then(({ Terminal, SerializeAddon }) => {
      if (this.#disposed) return;
      this.#term = new Terminal({ cols: this.#initialCols, rows: this.#initialRows, scrollback: SCROLLBACK_LINES, allowProposedApi: true });
      this.#serializer = new SerializeAddon();
      this.#term.loadAddon(this.#serializer);
      this.#drain(Infinity);
    });
    return this.#activating;
  }

  #schedule(): void {
    if (this.#timer || this.#disposed || !this.#term) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#drain(PARSE_BUDGET_BYTES);
    }, DRAIN_INTERVAL_MS);
  }

  #drain(budgetBytes: number): void {
    const term = this.#term;
    if (this.#disposed || !term) return;
    const ops = this.#queue;
    let skip = Math.max(0, this.#queuedBytes - Math.max(0, budgetBytes - this.#unparsedBytes));
    this.#queue = [];
    this.#queuedBytes = 0;
    let pending: Uint8Array[] = [];
    const flush = (): void => {
      if (pending.length === 0) return;
      const data = pending.length === 1 ? pending[0]! : Buffer.concat(pending);
      pending = [];
      this.#unparsedBytes += data.length;
      this.#fedOffset += data.length;
      term.write(data, () => (this.#unparsedBytes -= data.length));
    };
    for (const op of ops) {
      if (op.kind === 'resize') {
        flush();
        // Through the write queue, so bytes written before the resize are parsed at the old size.
        term.write('', () => term.resize(op.cols, op.rows));
        continue;
      }
      let data = op.data;
      if (skip > 0) {
        const cut = Math.min(skip, data.length);
        skip -= cut;
        this.skippedBytes += cut;
        this.#fedOffset += cut;
        data = data.subarray(cut);
      }
      if (data.length > 0) pending.push(data);
    }
    flush();
  }
}
