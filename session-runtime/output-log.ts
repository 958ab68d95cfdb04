/**
 * The terminal output log: a ring buffer that keeps the last `capacityBytes` of output, each
 * byte addressed by its absolute offset since the agent started. Resume serves
 * `slice(clientOffset)`; anything older than `start` is gone and needs a screen restore.
 */
export const DEFAULT_LOG_CAPACITY_BYTES = 8 * 1024 * 1024;

export class OutputLog {
  readonly #ring: Buffer;
  /** Absolute offset one past the last byte written. */
  #end = 0;

  constructor(readonly capacityBytes = DEFAULT_LOG_CAPACITY_BYTES) {
    // Not zero-filled: only written ranges are ever read, and untouched pages cost no RSS.
    this.#ring = Buffer.allocUnsafeSlow(capacityBytes);
  }

  /** Absolute offset of the oldest byte still kept. */
  get start(): number {
    return Math.max(0, this.#end - this.capacityBytes);
  }

  get end(): number {
    return this.#end;
  }

  append(data: Uint8Array): void {
    const cap = this.capacityBytes;
    let chunk = data;
    if (chunk.length > cap) {
      this.#end += chunk.length - cap;
      chunk = chunk.subarray(chunk.length - cap);
    }
    const pos = this.#end % cap;
    const first = Math.min(chunk.length, cap - pos);
    // Whole chunks (all but one per wrap) are set without making subarray views.
    if (first === chunk.length) this.#ring.set(chunk, pos);
    else {
      this.#ring.set(chunk.subarray(0, first), pos);
      this.#ring.set(chunk.subarray(first), 0);
    }
    this.#end += chunk.length;
  }

  /** Whether `offset` can be served exactly (it is within [start, end]). */
  has(offset: number): boolean {
    return offset >= this.start && offset <= this.#end;
  }

  /**
   * A copy of the bytes from `offset` (≥ start) up to `maxBytes` of them. A copy, because the
   * ring is overwritten while a socket may still hold the buffer.
   */
  slice(offset: number, maxBytes = Infinity): Buffer {
    if (!this.has(offset)) throw new RangeError(`offset ${offset} is outside the log [${this.start}, ${this.#end}]`);
    return this.copyInto(offset, Buffer.allocUnsafe(Math.min(this.#end - offset, maxBytes)));
  }

  /**
   * Copies the bytes from `offset` (≥ start) into `out`, as many as fit; returns the filled
   * part of `out`. Lets the relay reuse its frame buffers instead of allocating one per frame.
   */
  copyInto(offset: number, out: Buffer): Buffer {
    if (!this.has(offset)) throw new RangeError(`offset ${offset} is outside the log [${this.start}, ${this.#end}]`);
    const length = Math.min(this.#end - offset, out.length);
    const cap = this.capacityBytes;
    const pos = offset % cap;
    const first = Math.min(length, cap - pos);
    this.#ring.copy(out, 0, pos, pos + first);
    if (first < length) this.#ring.copy(out, first, 0, length - first);
    return length === out.length ? out : out.subarray(0, length);
  }

  /** The last `maxBytes` of output (for `catty logs`). */
  tail(maxBytes: number): Buffer {
    return this.slice(Math.max(this.start, this.#end - maxBytes));
  }
}

/**
 * Frame buffers for sending from the log, reused once the socket has handed a frame to the
 * kernel. One fresh 64 KiB buffer per frame made V8 run a full mark-compact every ~150 ms under
 * a flood (external memory pressure; tests/bench/p1-cpu.mjs). At most `maxSpare` are kept
 * between uses, so an idle runtime holds a few pages at most.
 */
export class FramePool {
  readonly #spare: Buffer[] = [];

  constructor(
    readonly frameBytes: number,
    readonly maxSpare: number,
  ) {}

  /** A buffer of `frameBytes` (contents undefined); give it back when no longer referenced. */
  take(): Buffer {
    return this.#spare.pop() ?? Buffer.allocUnsafeSlow(this.frameBytes);
  }

  give(frame: Buffer): void {
    if (this.#spare.length < this.maxSpare) this.#spare.push(frame);
  }
}
