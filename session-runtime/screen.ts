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
 */
import xtermHeadless from '@xterm/headless';
import serializeAddon from '@xterm/addon-serialize';

const { Terminal } = xtermHeadless;
const { SerializeAddon } = serializeAddon;

/** Scrollback kept for restores: enough context to be useful, cheap to serialize. */
const SCROLLBACK_LINES = 1000;
export const DRAIN_INTERVAL_MS = 16;
export const PARSE_BUDGET_BYTES = 32 * 1024;

type Op = { kind: 'data'; data: Uint8Array } | { kind: 'resize'; cols: number; rows: number };

export class Screen {
  readonly #term: InstanceType<typeof Terminal>;
  readonly #serializer: InstanceType<typeof SerializeAddon>;
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
    this.#term = new Terminal({ cols, rows, scrollback: SCROLLBACK_LINES, allowProposedApi: true });
    this.#serializer = new SerializeAddon();
    this.#term.loadAddon(this.#serializer);
  }

  /** Queues output; order with `resize` is kept. */
  write(data: Uint8Array): void {
    this.#queue.push({ kind: 'data', data });
    this.#queuedBytes += data.length;
    this.#schedule();
  }

  resize(cols: number, rows: number): void {
    this.#queue.push({ kind: 'resize', cols, rows });
    this.#schedule();
  }

  /**
   * The serialized screen after every queued byte has been parsed, and the output offset it
   * corresponds to (the first byte not included).
   */
  async snapshot(): Promise<{ screen: string; offset: number }> {
    this.#drain(Infinity);
    const offset = this.#fedOffset;
    await new Promise<void>((resolve) => this.#term.write('', resolve));
    return { screen: this.#serializer.serialize(), offset };
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#queue = [];
    this.#term.dispose();
  }

  #schedule(): void {
    if (this.#timer || this.#disposed) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#drain(PARSE_BUDGET_BYTES);
    }, DRAIN_INTERVAL_MS);
  }

  #drain(budgetBytes: number): void {
    if (this.#disposed) return;
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
      this.#term.write(data, () => (this.#unparsedBytes -= data.length));
    };
    for (const op of ops) {
      if (op.kind === 'resize') {
        flush();
        // Through the write queue, so bytes written before the resize are parsed at the old size.
        this.#term.write('', () => this.#term.resize(op.cols, op.rows));
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
