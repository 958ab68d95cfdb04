/**
 * The PTY relay: one agent, one output log, at most one interactive client.
 *
 * Output path: agent bytes → log (absolute offsets) → headless screen (batched, async) → the
 * attached client, which is served from the log by offset. That one mechanism gives exact
 * resume (start at the client's offset), live streaming (follow the log's end) and backpressure
 * (stop following while the socket is full).
 *
 * Batching: when the line is idle, output is flushed right after the event-loop turn that read
 * it (setImmediate: an echo waits microseconds, no timer). While output is flowing (the last
 * flush was recent and not tiny), it is coalesced for COALESCE_MS (one frame of a 60 Hz
 * display) or up to FRAME_CAP_BYTES, whichever comes first: node-pty reads ~4 KiB at a time,
 * and every frame costs a send on loopback TCP here and a read, a parse and a stdout write in
 * the CLI — the largest part of a chatty session's CPU. A full frame goes at once; what is left
 * over (the start of the next frame) waits for the scheduled flush like any other output.
 * Sending it right behind made every full frame drag a few-byte frame after it: a 100 MB cat
 * was 2,940 frames instead of ~1,530.
 *
 * Backpressure: `lag` = bytes the client has not taken yet = (log end − sent offset) + the
 * socket's buffered bytes. Above HIGH_WATER_BYTES the PTY is paused (the kernel's PTY buffer
 * then blocks the agent's writes); below LOW_WATER_BYTES it is resumed. LOW < HIGH gives
 * hysteresis so we do not flap; HIGH (1 MiB) is far below the log's capacity (8 MiB), so a
 * paused client never falls out of the log and resumes exactly. With nobody attached the agent
 * is never paused: output goes to the log only.
 */
import type { AgentExit, AgentProcess } from './agent.js';
import type { ClientSocket } from './client-socket.js';
import { FramePool, OutputLog } from './output-log.js';
import { CloseCode, PROTOCOL_VERSION, parseClientMessage, type ClientMessage } from './wire/protocol.js';
import { Screen } from './screen.js';

export const HIGH_WATER_BYTES = 1024 * 1024;
export const LOW_WATER_BYTES = 256 * 1024;
/**
 * A full frame must arrive in one read of the client's socket, so ws hands it over as is instead
 * of copying two pieces together. The client reads 64 KiB at a time, and loopback TCP carries at
 * most 65,483 bytes per segment (its 64 KiB MTU less the IP and TCP headers and timestamps): a
 * 64 KiB frame came as a segment and a 53-byte tail, often in two reads. This payload plus
 * ws's 4-byte header (2-byte length) fits one segment: in a 100 MB cat the CLI's socket reads
 * went from ~3,500 to ~2,000 (perf stat). The step before, from 64 KiB of payload to 64 KiB on
 * the wire, took the CLI from 0.47 to 0.38 CPU-s per 100 MB in alternating runs.
 */
export const FRAME_CAP_BYTES = 64 * 1024 - 64;
/** Frame buffers kept for reuse: a loopback socket takes each frame at once, so 2 suffice. */
const SPARE_FRAMES = 2;
/**
 * While output is flowing, frames are coalesced for this long (or up to FRAME_CAP_BYTES). An
 * agent printing 1 KiB every 10 ms (P7's load): 100 frames a second at 2 ms, 50 at 16 ms, and
 * in alternating runs of tests/bench/runtime-chatty.mjs the runtime's CPU went 67 → 54 ms/s
 * and the CLI's 39 → 26 ms/s (medians of 5). Nobody sees a stream arrive one display frame
 * later; an echo on an idle line is not delayed at all.
 */
export const COALESCE_MS = 16;
/** While output is held back by a full socket, how often to look again. */
const RECHECK_MS = 10;
/** "Flowing": the previous flush was less than this long ago and carried at least this much. */
const FLOWING_WINDOW_MS = 50;
const FLOWING_MIN_BYTES = 1024;

/** What the relay tells the sync-back sender about the attached client. */
export interface SyncTarget {
  /** `resumeOffset`: the output offset the client attached with (what it has already seen);
   * undefined for a client that brought none. */
  setChannel(channel: ClientSocket | null, resumeOffset?: number): void;
  /** Gives the sender the output log's end offset, its clock for what a client has seen. */
  bindOutputPosition?(position: () => number): void;
  /**
   * At agent exit: sends every pending file change to the sync client and waits until the
   * socket drained (bounded). null when there is nothing to wait for (no sync client).
   */
  flushPending?(): Promise<void> | null;
}

interface Attached {
  socket: ClientSocket;
  /** The offset the client asked to resume from (its proof of what it received). */
  resumeOffset: number | undefined;
  /** Offset of the next byte to send; null until hello is out (no output flows before it). */
  sentOffset: number | null;
}

export class Relay {
  readonly log: OutputLog;
  readonly screen: Screen;
  readonly #frames = new FramePool(FRAME_CAP_BYTES, SPARE_FRAMES);
  cols: number;
  rows: number;
  #agent: AgentProcess | null = null;
  #exit: AgentExit | null = null;
  #client: Attached | null = null;
  #paused = false;
  #flushTimer: NodeJS.Timeout | null = null;
  #recheckTimer: NodeJS.Timeout | null = null;
  #flushImmediate = false;
  #lastFlushAtMs = 0;
  #lastFlushBytes = 0;
  #lastOutputAtMs = Date.now();
  /** Set at agent exit while the last file changes are being flushed; `exit` waits for it. */
  #exitFlush: Promise<void> | null = null;
  readonly #exitListeners: ((exit: AgentExit) => void)[] = [];
  /** The client that asked (`git_home`) to fetch the agent's branches at its exit. */
  #gitHomeSocket: ClientSocket | null = null;
  #gitWantedAtExit = false;

  constructor(
    cols: number,
    rows: number,
    private readonly sync: SyncTarget | null = null,
    logCapacityBytes?: number,
  ) {
    this.cols = cols;
    this.rows = rows;
    this.log = new OutputLog(logCapacityBytes);
    this.screen = new Screen(cols, rows, this.log);
    this.sync?.bindOutputPosition?.(() => this.log.end);
  }

  get agentRunning(): boolean {
    return this.#agent !== null && this.#exit === null;
  }
  get exit(): AgentExit | null {
    return this.#exit;
  }
  /** The agent's branches may have moved: tells the attached client if it said `git_home`. */
  gitMoved(): void {
    const client = this.#client;
    if (client && client.sentOffset !== null && client.socket === this.#gitHomeSocket && !this.#exit) client.socket.sendMessage({ type: 'git_moved' });
  }
  /** Whether the client attached when the agent exited will ask for its branches. */
  get gitWantedAtExit(): boolean {
    return this.#gitWantedAtExit;
  }
  get clientCount(): number {
    return this.#client ? 1 : 0;
  }
  get idleMs(): number {
    return Date.now() - this.#lastOutputAtMs;
  }

  onExit(listener: (exit: AgentExit) => void): void {
    this.#exitListeners.push(listener);
  }

  /** Wires a started agent into the relay. */
  setAgent(agent: AgentProcess): void {
    this.#agent = agent;
    agent.onData((data) => this.#onOutput(data));
    agent.onExit((exit) => this.#onAgentExit(exit));
  }

  /** A new client: replaces the current one, then gets hello (+ replay or screen). */
  async attach(socket: ClientSocket, offset: number | undefined): Promise<void> {
    const old = this.#client;
    const me: Attached = { socket, resumeOffset: offset, sentOffset: null };
    this.#client = me;
    if (old) {
      this.sync?.setChannel(null);
      old.socket.sendMessage({ type: 'error', code: 'replaced', message: 'Another client connected to this session.' });
      old.socket.close(CloseCode.replaced, 'replaced by a newer connection');
    }
    let start: number;
    let screen: string | undefined;
    if (offset !== undefined && this.log.has(offset)) start = offset;
    else if (offset === undefined && this.log.start === 0) start = 0;
    else {
      const snap = await this.screen.snapshot();
      if (this.#client !== me) return;
      if (!this.log.has(snap.offset)) {
        socket.close(CloseCode.goingAway, 'output moved on too fast; reconnect');
        return this.detach(socket);
      }
      start = snap.offset;
      screen = snap.screen;
    }
    socket.sendMessage({
      type: 'hello',
      protocol: PROTOCOL_VERSION,
      offset: start,
      ...(screen !== undefined ? { screen } : {}),
      agentRunning: this.agentRunning,
      cols: this.cols,
      rows: this.rows,
    });
    me.sentOffset = start;
    if (this.#exit) this.#finishAfterFlush(me, this.#exit);
    else this.#pump();
  }

  /** The socket closed (or was dropped). */
  detach(socket: ClientSocket): void {
    if (this.#client?.socket !== socket) return;
    this.#client = null;
    this.sync?.setChannel(null);
    this.#setPaused(false);
  }

  handleBinary(socket: ClientSocket, data: Buffer): void {
    if (this.#client?.socket !== socket || !this.agentRunning) return;
    this.#agent!.write(data);
  }

  handleText(socket: ClientSocket, text: string): void {
    const message = parseClientMessage(text);
    if (!message) {
      socket.sendMessage({ type: 'error', code: 'invalid_frame', message: 'Not a valid control message.' });
      socket.close(CloseCode.invalidFrame, 'invalid control message');
      this.detach(socket);
      return;
    }
    if (this.#client?.socket !== socket) return;
    this.#dispatch(socket, message);
  }

  #dispatch(socket: ClientSocket, message: ClientMessage): void {
    switch (message.type) {
      case 'resize':
        this.resize(message.cols, message.rows);
        return;
      case 'sync_back':
        this.sync?.setChannel(message.enabled ? socket : null, this.#client?.resumeOffset);
        return;
      case 'git_home':
        this.#gitHomeSocket = message.enabled ? socket : null;
        // Attached after the agent exited (it exits at once): this client is the one at its end.
        if (this.#exit && message.enabled) this.#gitWantedAtExit = true;
        return;
      case 'take_control': // one client today: it has control already
        return;
      default: {
        const never: never = message;
        throw new Error(`unhandled message ${JSON.stringify(never)}`);
      }
    }
  }

  resize(cols: number, rows: number): void {
    if (cols === this.cols && rows === this.rows) return;
    this.cols = cols;
    this.rows = rows;
    this.screen.resize(cols, rows);
    if (this.agentRunning) this.#agent!.resize(cols, rows);
  }

  /** Ends every client with 4001 (shutdown). */
  closeAll(reason: string): void {
    const client = this.#client;
    if (!client) return;
    this.detach(client.socket);
    client.socket.close(CloseCode.sessionEnded, reason);
  }

  dispose(): void {
    this.#cancelRecheck();
    if (this.#flushTimer) clearTimeout(this.#flushTimer);
    this.#flushTimer = null;
    this.screen.dispose();
  }

  #onOutput(data: Buffer): void {
    this.#lastOutputAtMs = Date.now();
    this.log.append(data);
    this.screen.write(data);
    const client = this.#client;
    if (!client || client.sentOffset === null) return;
    const fullFrame = this.log.end - client.sentOffset >= FRAME_CAP_BYTES;
    if (this.#flushTimer === null && !this.#flushImmediate) {
      // Flowing = the last flush was recent and not tiny. An echo (a few bytes) never is; a
      // full frame's worth at once is.
      const flowing = fullFrame || (performance.now() - this.#lastFlushAtMs < FLOWING_WINDOW_MS && this.#lastFlushBytes >= FLOWING_MIN_BYTES);
      if (flowing) this.#flushTimer = setTimeout(() => this.#flush(), COALESCE_MS);
      else {
        this.#flushImmediate = true;
        setImmediate(() => this.#flush());
      }
    }
    // A full frame goes now; #pump leaves the rest for the scheduled flush.
    if (fullFrame) this.#pump();
    else this.#updateFlow();
  }

  #flush(): void {
    if (this.#flushTimer) clearTimeout(this.#flushTimer);
    this.#flushTimer = null;
    this.#flushImmediate = false;
    const client = this.#client;
    if (!client || client.sentOffset === null) return;
    this.#lastFlushAtMs = performance.now();
    this.#lastFlushBytes = this.log.end - client.sentOffset;
    this.#pump();
  }

  /**
   * Sends from the client's offset toward the log's end while the socket has room. `final`: the
   * agent has exited, everything goes (past the high-water mark, partial frames included).
   */
  #pump(final = false): void {
    const client = this.#client;
    if (!client || client.sentOffset === null) return;
    const { socket } = client;
    while (client.sentOffset < this.log.end && socket.isOpen) {
      if (!final && socket.bufferedAmount > HIGH_WATER_BYTES) break;
      // While a flush is scheduled, a partial frame waits for it (or to fill up).
      if (!final && (this.#flushTimer !== null || this.#flushImmediate) && this.log.end - client.sentOffset < FRAME_CAP_BYTES) break;
      if (!this.log.has(client.sentOffset)) {
        // Only if the PTY outran a pause by the whole log: let the client resume via a screen.
        socket.close(CloseCode.goingAway, 'fell behind the output log; reconnect');
        this.detach(socket);
        return;
      }
      const frame = this.#frames.take();
      const chunk = this.log.copyInto(client.sentOffset, frame);
      client.sentOffset += chunk.length;
      socket.sendBinary(chunk, () => {
        this.#frames.give(frame);
        this.#onSent(client);
      });
    }
    this.#updateFlow();
  }

  #onSent(client: Attached): void {
    if (this.#client !== client) return;
    if (client.sentOffset !== null && client.sentOffset < this.log.end && client.socket.bufferedAmount <= HIGH_WATER_BYTES) this.#pump();
    else this.#updateFlow();
  }

  #updateFlow(): void {
    const client = this.#client;
    if (!client || client.sentOffset === null) return this.#setPaused(false);
    const lag = this.log.end - client.sentOffset + client.socket.bufferedAmount;
    if (!this.#paused && lag > HIGH_WATER_BYTES) this.#setPaused(true);
    else if (this.#paused && lag < LOW_WATER_BYTES) this.#setPaused(false);
    // The socket also carries sync-back messages, whose sends never call back here. If output
    // is held back (or the PTY paused) because of them, nothing else would pump again once they
    // drained — and with the PTY paused no new output comes to do it: re-check on a timer.
    // Not while a flush is already on its way (it pumps and comes back here), and not once
    // nothing is held back: a chatty session armed one per PTY read, 100 useless wake-ups a second.
    const heldBack = this.#paused || client.sentOffset < this.log.end;
    if (!heldBack) this.#cancelRecheck();
    else if (!this.#recheckTimer && this.#flushTimer === null && !this.#flushImmediate) {
      this.#recheckTimer = setTimeout(() => {
        this.#recheckTimer = null;
        if (this.#client === client) this.#pump();
      }, RECHECK_MS);
    }
  }

  #cancelRecheck(): void {
    if (this.#recheckTimer) clearTimeout(this.#recheckTimer);
    this.#recheckTimer = null;
  }

  #setPaused(paused: boolean): void {
    if (this.#paused === paused) return;
    this.#paused = paused;
    if (!this.agentRunning) return;
    if (paused) this.#agent!.pause();
    else this.#agent!.resume();
  }

  #onAgentExit(exit: AgentExit): void {
    this.#exit = exit;
    this.#gitWantedAtExit = this.#client !== null && this.#client.socket === this.#gitHomeSocket;
    this.#paused = false;
    if (this.#flushTimer) clearTimeout(this.#flushTimer);
    this.#flushTimer = null;
    // File changes the agent made just before exiting must reach the client before `exit`
    // (then 4001): the sender lets the watcher settle and sends them all, bounded in time.
    this.#exitFlush = this.sync?.flushPending?.()?.catch(() => undefined) ?? null;
    this.#pump(true);
    const client = this.#client;
    if (client && client.sentOffset !== null) this.#finishAfterFlush(client, exit);
    for (const listener of this.#exitListeners) listener(exit);
  }

  #finishAfterFlush(client: Attached, exit: AgentExit): void {
    const flush = this.#exitFlush;
    if (!flush) return this.#finish(client, exit);
    void flush.then(() => {
      if (this.#client === client) this.#finish(client, exit);
    });
  }

  /** After the agent exited: the rest of the output, `exit`, then 4001. */
  #finish(client: Attached, exit: AgentExit): void {
    this.#pump(true);
    if (this.#client !== client) return;
    client.socket.sendMessage({ type: 'exit', code: exit.code, signal: exit.signal });
    this.detach(client.socket);
    client.socket.close(CloseCode.sessionEnded, 'session ended');
  }
}
