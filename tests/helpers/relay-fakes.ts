/**
 * A fake agent and a fake client socket for the relay's unit tests (runtime-relay*.test.ts):
 * the relay's two edges, so its logic runs without a PTY or a network.
 */
import type { AgentExit, AgentProcess } from '../../session-runtime/agent.js';
import type { ClientSocket } from '../../session-runtime/client-socket.js';
import type { RuntimeMessage } from '../../session-runtime/wire/protocol.js';

export class FakeAgent implements AgentProcess {
  pid = 1;
  paused = false;
  written: Buffer[] = [];
  size: [number, number] = [80, 24];
  #data: ((d: Buffer) => void)[] = [];
  #exit: ((e: AgentExit) => void)[] = [];
  onData(l: (d: Buffer) => void) {
    this.#data.push(l);
  }
  onExit(l: (e: AgentExit) => void) {
    this.#exit.push(l);
  }
  write(d: Buffer | string) {
    this.written.push(Buffer.from(d));
  }
  resize(c: number, r: number) {
    this.size = [c, r];
  }
  pause() {
    this.paused = true;
  }
  resume() {
    this.paused = false;
  }
  kill() {}
  emit(d: string | Buffer) {
    for (const l of this.#data) l(Buffer.from(d));
  }
  exit(e: AgentExit) {
    for (const l of this.#exit) l(e);
  }
}

export class FakeSocket implements ClientSocket {
  bufferedAmount = 0;
  isOpen = true;
  frames: Buffer[] = [];
  messages: RuntimeMessage[] = [];
  closed: [number, string] | null = null;
  /** Frames not yet "written to the kernel": copied and called back on flush(). */
  pending: { data: Buffer; cb?: () => void }[] = [];
  stalled = false;
  sendBinary(data: Buffer, cb?: () => void) {
    // Like a socket: the bytes are copied when written to the kernel, and after the callback
    // the relay may reuse the buffer.
    if (this.stalled) {
      this.bufferedAmount += data.length;
      this.pending.push({ data, cb });
      return;
    }
    this.frames.push(Buffer.from(data));
    cb?.();
  }
  sendMessage(m: RuntimeMessage) {
    this.messages.push(m);
  }
  close(code: number, reason: string) {
    this.closed = [code, reason];
    this.isOpen = false;
  }
  flush() {
    this.stalled = false;
    for (const p of this.pending.splice(0)) {
      this.bufferedAmount -= p.data.length;
      this.frames.push(Buffer.from(p.data));
      p.cb?.();
    }
  }
  output() {
    return Buffer.concat(this.frames).toString();
  }
  ofType<T extends RuntimeMessage['type']>(type: T): Extract<RuntimeMessage, { type: T }>[] {
    return this.messages.filter((m): m is Extract<RuntimeMessage, { type: T }> => m.type === type);
  }
  /** The last `control` message this client was sent. */
  control() {
    return this.ofType('control').at(-1);
  }
}
