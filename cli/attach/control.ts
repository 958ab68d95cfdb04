/**
 * Who has the input while the CLI is attached (issue 24). The CLI takes control when it
 * attaches; a browser may take it, and then this terminal watches: keystrokes are not sent (the
 * runtime would drop them anyway), except Enter, which asks for control back (`take_control`)
 * instead of reaching the agent — the detach key works as always (attach.ts looks for it first).
 * While watching the CLI never sends its size (the controller's is the PTY's); when control
 * comes back it sends it, so the agent redraws for this terminal.
 */
import type { ClientMessage, ControlMessage } from '../../session-runtime/wire/protocol.js';
import { describeDetachKey } from './detach-key.js';

const ENTER = 0x0d; // what Enter sends in raw mode

export interface ControlOptions {
  label: string;
  detachKey: number;
  /** Draws a one-line notice over the cursor's row (null erases it): attach.ts's status line. */
  notice(line: string | null): void;
  /** This terminal's size now. */
  size(): { cols: number; rows: number };
}

interface Sender {
  send(message: ClientMessage): void;
}

export class InputControl {
  #controlling = true;
  /** Who has it, as the runtime last said (null: nobody). */
  #controller: ControlMessage['controller'] = 'cli';
  /** A "you have control again" notice is up, erased by the next keystroke. */
  #backShown = false;

  constructor(private readonly o: ControlOptions) {}

  /** Keystrokes and resizes go to the agent. */
  get controlling(): boolean {
    return this.#controlling;
  }

  /** A new connection said hello: a CLI has control from its attach on (the notice is gone). */
  attached(): void {
    this.#controlling = true;
    this.#controller = 'cli';
    this.#backShown = false;
  }

  /** The runtime's `control` message. */
  onControl(message: ControlMessage, connection: Sender): void {
    const was = this.#controlling;
    this.#controlling = message.controlling;
    this.#controller = message.controller;
    if (!message.controlling && (was || message.controller === null)) this.#showWatching();
    else if (!was && message.controlling) {
      this.o.notice(`[you have control of ${this.o.label} again]`);
      this.#backShown = true;
      connection.send({ type: 'resize', ...this.o.size() });
    }
  }

  /** Before keystrokes are sent while in control: the "again" notice has been read. */
  typing(): void {
    if (!this.#backShown) return;
    this.#backShown = false;
    this.o.notice(null);
  }

  /** Keystrokes typed while watching: Enter asks for control; nothing reaches the agent. The
   * notice is drawn again, since the agent's output may have drawn over it. */
  typedWhileWatching(bytes: Buffer, connection: Sender): void {
    if (bytes.includes(ENTER)) connection.send({ type: 'take_control' });
    else if (bytes.length > 0) this.#showWatching();
  }

  #showWatching(): void {
    const detach = `${describeDetachKey(this.o.detachKey)} to detach`;
    if (this.#controller === null) this.o.notice(`[nobody has control of ${this.o.label}; press Enter to take it, ${detach}]`);
    else this.o.notice(`[${this.#controller === 'browser' ? 'a browser' : 'another client'} has control of ${this.o.label}; press Enter to take it back, ${detach}]`);
  }
}
