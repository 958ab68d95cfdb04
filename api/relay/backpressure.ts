/**
 * One direction of the WebSocket relay: every message read from `from` is sent on `to` with
 * its type (text stays text, binary stays binary), and reading `from` stops while `to` is full.
 *
 * Water marks: `to.bufferedAmount` counts bytes accepted by `send` but not yet handed to the
 * kernel. Above HIGH_WATER_BYTES we pause `from` (its socket stops being read, so TCP's window
 * pushes back on its sender: the runtime then sees its own socket fill and pauses the PTY, or
 * the CLI stops reading the keyboard); each send's callback checks again, and below
 * LOW_WATER_BYTES `from` is resumed. LOW < HIGH gives hysteresis so we do not flap per frame.
 * HIGH matches the runtime's own high-water mark (1 MiB), so the relay holds at most that plus
 * one frame (≤ MAX_FRAME_BYTES) per direction, whatever the client's speed.
 */

export const HIGH_WATER_BYTES = 1024 * 1024;
export const LOW_WATER_BYTES = 256 * 1024;

/** The side we read from (a `ws` WebSocket fits). */
export interface Readable {
  pause(): void;
  resume(): void;
  readonly isPaused: boolean;
}

/** The side we write to (a `ws` WebSocket fits). */
export interface Writable {
  readonly bufferedAmount: number;
  send(data: Buffer, options: { binary: boolean }, callback: (err?: Error) => void): void;
}

export interface Marks {
  highWaterBytes: number;
  lowWaterBytes: number;
}

export class Forwarder {
  /** Paused by us (as opposed to never paused): only then do we resume. */
  #heldBack = false;
  #stopped = false;

  constructor(
    private readonly from: Readable,
    private readonly to: Writable,
    private readonly marks: Marks = { highWaterBytes: HIGH_WATER_BYTES, lowWaterBytes: LOW_WATER_BYTES },
  ) {
    if (!(marks.lowWaterBytes < marks.highWaterBytes)) throw new Error('Forwarder: lowWaterBytes must be below highWaterBytes');
  }

  /** Whether reading `from` is paused because `to` is full. */
  get heldBack(): boolean {
    return this.#heldBack;
  }

  /** Forwards one message read from `from`. */
  forward(data: Buffer, isBinary: boolean): void {
    if (this.#stopped) return;
    this.to.send(data, { binary: isBinary }, () => this.#check());
    this.#check();
  }

  /** No more forwarding (teardown); releases `from` so its close handshake can be read. */
  stop(): void {
    this.#stopped = true;
    if (this.#heldBack) {
      this.#heldBack = false;
      this.from.resume();
    }
  }

  #check(): void {
    if (this.#stopped) return;
    const buffered = this.to.bufferedAmount;
    if (!this.#heldBack && buffered > this.marks.highWaterBytes) {
      this.#heldBack = true;
      this.from.pause();
    } else if (this.#heldBack && buffered < this.marks.lowWaterBytes) {
      this.#heldBack = false;
      this.from.resume();
    }
  }
}
