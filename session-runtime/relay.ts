/**
 * The PTY relay: one agent, one output log, the clients attached to it (the CLI and browsers,
 * issue 24; who may do what is in clients.ts).
 *
 * Output path: agent bytes → log (absolute offsets) → headless screen (batched, async) → each
 * attached client, served from the log by its own offset. That one mechanism gives exact
 * resume (start at the client's offset), live streaming (follow the log's end) and backpressure
 * (stop following while the socket is full), per client.
 *
 * Batching: when the line is idle, output is flushed right after the event-loop turn that read
 * it (setImmediate: an echo waits microseconds, no timer). While output is flowing (the last
 * flush was recent and not tiny), it is coalesced for COALESCE_MS (one frame of a 60 Hz
 * display) or up to FRAME_CAP_BYTES, whichever comes first: node-pty reads ~4 KiB at a time,
 * and every frame costs a send on loopback TCP here and a read, a parse and a stdout write in
 * the CLI — the largest part of a chatty session's CPU. A full frame goes at once; what is left
 * over (the start of the next frame) waits for the scheduled flush like any other output.
 * Sending it right behind made every full frame drag a few-byte frame after it: a 100 MB cat
 * was 2,940 frames instead of ~1,530. The batching is the relay's, one timer for everyone: a
 * flush pumps every client.
 *
 * Backpressure: `lag` = bytes the controller has not taken yet = (log end − sent offset) + the
 * socket's buffered bytes. Above HIGH_WATER_BYTES the PTY is paused (the kernel's PTY buffer
 * then blocks the agent's writes); below LOW_WATER_BYTES it is resumed. LOW < HIGH gives
 * hysteresis so we do not flap; HIGH (1 MiB) is far below the log's capacity (8 MiB), so a
 * paused controller never falls out of the log and resumes exactly. Only the controller's lag
 * pauses the agent: with nobody in control it is never paused. A watcher is sent to only while
 * its socket holds at most HIGH_WATER_BYTES (so a stalled one holds at most that much of the
 * runtime's memory); one that falls out of the log is closed with 1001 and comes back with a
 * screen.
 */
import type { AgentExit, AgentProcess } from './agent.js';
import type { ClientSocket } from './client-socket.js';
import { AttachedClient, controlMessage, type ClientOptions } from './clients.js';
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
/** Frame buffers kept for reuse, per client: a loopback socket takes each frame at once, so 2
 * suffice; a client's pool goes with it. */
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

/** What the relay tells the sync-back sender about the client that syncs (the CLI). */
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


export class Relay {
  readonly log: OutputLog;
  readonly screen: Screen;
  cols: number;
  rows: number;
  #agent: AgentProcess | null = null;
  #exit: AgentExit | null = null;
  /** Everyone attached, in the order they came. Replaced, never changed in place, so a loop over
   * it survives a client leaving in the middle; an array, since the output path walks it per
   * PTY read and per frame: with a Map's iterators the relay alone took 15-20% more CPU per
   * 100 MB with one client (fake sockets, medians of 5); with the array, the same as before. */
  #clients: readonly AttachedClient[] = [];
  /** The one client whose keystrokes and size reach the PTY; null: nobody (it left). */
  #controller: AttachedClient | null = null;
  /** The client whose socket is the sync channel (it said `sync_back`): only it ends sync-back. */
  #syncClient: AttachedClient | null = null;
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
  #gitHome: AttachedClient | null = null;
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
  /** The agent's branches may have moved: tells the client that said `git_home`, if attached. */
  gitMoved(): void {
    const client = this.#gitHome;
    if (client && client.greeted && this.#isAttached(client) && !this.#exit) client.socket.sendMessage({ type: 'git_moved' });
  }
  /** Whether the client attached when the agent exited will ask for its branches. */
  get gitWantedAtExit(): boolean {
    return this.#gitWantedAtExit;
  }
  get clientCount(): number {
    return this.#clients.length;
  }
  /** Clients that count as someone at work in the session (the heartbeat's `clients`): a share
   * link's read-only viewer does not, so an open link never keeps a session from its TTL. */
  get ownerClientCount(): number {
    let n = 0;
    for (const client of this.#clients) if (!client.readonly) n++;
    return n;
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

  /**
   * A new client: a CLI replaces the previous CLI and takes control (its size becomes the
   * PTY's); a browser watches. Then hello (+ replay or screen) and `control`.
   */
  async attach(socket: ClientSocket, offset: number | undefined, options: ClientOptions = { kind: 'cli', readonly: false }): Promise<void> {
    const me = new AttachedClient(socket, options.kind, options.readonly, offset, new FramePool(FRAME_CAP_BYTES, SPARE_FRAMES));
    if (me.isCli) for (const other of this.#clients) if (other.isCli) this.#replace(other);
    this.#clients = [...this.#clients, me];
    if (me.isCli) {
      this.#controller = me;
      if (options.cols && options.rows && !this.#exit) this.#resize(options.cols, options.rows, me);
      this.#updateFlow();
    }
    this.#announceControl();
    let start: number;
    let screen: string | undefined;
    if (offset !== undefined && this.log.has(offset)) start = offset;
    else if (offset === undefined && this.log.start === 0) start = 0;
    else {
      const snap = await this.screen.snapshot();
      if (!this.#isAttached(me)) return;
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
    socket.sendMessage(controlMessage(me, this.#controller, this.#clients.length));
    if (this.#exit) this.#finishAfterFlush(me, this.#exit);
    else this.#pump();
  }

  /** The socket closed (or was dropped). */
  detach(socket: ClientSocket): void {
    const client = this.#find(socket);
    if (!client) return;
    this.#remove(client);
    this.#updateFlow();
    if (!this.#exit) this.#announceControl();
  }

  handleBinary(socket: ClientSocket, data: Buffer): void {
    // Keystrokes from anyone but the controller are dropped (a watcher, a read-only link).
    if (this.#controller?.socket !== socket || !this.agentRunning) return;
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
    const client = this.#find(socket);
    if (client) this.#dispatch(client, message);
  }

  #dispatch(client: AttachedClient, message: ClientMessage): void {
    switch (message.type) {
      case 'resize':
        if (client === this.#controller) this.#resize(message.cols, message.rows, client);
        return;
      case 'sync_back':
        // Only the CLI syncs files back: a browser neither gets them nor ends the CLI's sync.
        if (!client.isCli) return;
        if (message.enabled) this.#syncClient = client;
        else if (this.#syncClient === client) this.#syncClient = null;
        else return;
        this.sync?.setChannel(message.enabled ? client.socket : null, client.resumeOffset);
        return;
      case 'git_home':
        if (!client.isCli) return;
        this.#gitHome = message.enabled ? client : null;
        // Attached after the agent exited (it exits at once): this client is the one at its end.
        if (this.#exit && message.enabled) this.#gitWantedAtExit = true;
        return;
      case 'take_control':
        if (!client.mayControl || client === this.#controller || this.#exit) return;
        this.#controller = client;
        this.#updateFlow();
        this.#announceControl();
        return;
      default: {
        const never: never = message;
        throw new Error(`unhandled message ${JSON.stringify(never)}`);
      }
    }
  }

  /** Sets the PTY's size (the agent's start, with the upload's size); tells every client. */
  resize(cols: number, rows: number): void {
    this.#resize(cols, rows, null);
  }

  /** `from`: the client that asked (the controller); the others are told `resized`. */
  #resize(cols: number, rows: number, from: AttachedClient | null): void {
    if (cols === this.cols && rows === this.rows) return;
    this.cols = cols;
    this.rows = rows;
    this.screen.resize(cols, rows);
    if (this.agentRunning) this.#agent!.resize(cols, rows);
    for (const client of this.#clients) if (client !== from && client.greeted) client.socket.sendMessage({ type: 'resized', cols, rows });
  }

  /** Ends every client with 4001 (shutdown). */
  closeAll(reason: string): void {
    const all = this.#clients;
    for (const client of all) this.#remove(client);
    this.#updateFlow();
    for (const client of all) client.socket.close(CloseCode.sessionEnded, reason);
  }

  dispose(): void {
    this.#cancelRecheck();
    if (this.#flushTimer) clearTimeout(this.#flushTimer);
    this.#flushTimer = null;
    this.screen.dispose();
  }

  #isAttached(client: AttachedClient): boolean {
    return client.attached;
  }

  #find(socket: ClientSocket): AttachedClient | undefined {
    return this.#clients.find((client) => client.socket === socket);
  }

  /** Takes a client out of the set; sync-back ends only if it was the sync client. */
  #remove(client: AttachedClient): void {
    if (!this.#isAttached(client)) return;
    client.attached = false;
    this.#clients = this.#clients.filter((other) => other !== client);
    if (client === this.#controller) this.#controller = null;
    if (client === this.#syncClient) {
      this.#syncClient = null;
      this.sync?.setChannel(null);
    }
  }

  /** A newer CLI came: the previous one is told and closed with 4000 (browsers stay). */
  #replace(old: AttachedClient): void {
    this.#remove(old);
    old.socket.sendMessage({ type: 'error', code: 'replaced', message: 'Another client connected to this session.' });
    old.socket.close(CloseCode.replaced, 'replaced by a newer connection');
  }

  /** `control` to every greeted client: who controls, and how many are attached. */
  #announceControl(): void {
    const count = this.#clients.length;
    for (const client of this.#clients) if (client.greeted) client.socket.sendMessage(controlMessage(client, this.#controller, count));
  }

  /** The client's next byte is gone from the log: it comes back with a screen. */
  #dropBehind(client: AttachedClient): void {
    client.socket.close(CloseCode.goingAway, 'fell behind the output log; reconnect');
    this.detach(client.socket);
  }

  #onOutput(data: Buffer): void {
    this.#lastOutputAtMs = Date.now();
    this.log.append(data);
    this.screen.write(data);
    // The most caught-up client decides the batching; one that fell out of the log leaves.
    let newest = -1;
    for (const client of this.#clients) {
      const sent = client.sentOffset;
      if (sent === null) continue;
      if (sent < this.log.start) this.#dropBehind(client);
      else if (sent > newest) newest = sent;
    }
    if (newest < 0) return;
    const fullFrame = this.log.end - newest >= FRAME_CAP_BYTES;
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
    let newest = -1;
    for (const client of this.#clients) if (client.sentOffset !== null && client.sentOffset > newest) newest = client.sentOffset;
    if (newest < 0) return;
    this.#lastFlushAtMs = performance.now();
    this.#lastFlushBytes = this.log.end - newest;
    this.#pump();
  }

  /** Sends to every client what it may take now (see #send). */
  #pump(final = false): void {
    for (const client of this.#clients) this.#send(client, final);
    this.#updateFlow();
  }

  /**
   * Sends from the client's offset toward the log's end while its socket holds at most
   * HIGH_WATER_BYTES. `final`: the agent has exited, partial frames go too, and to the
   * controller everything goes (its lag is bounded by the pause; a watcher's is not).
   */
  #send(client: AttachedClient, final: boolean): void {
    if (client.sentOffset === null) return;
    const { socket } = client;
    const bounded = !final || client !== this.#controller;
    const batching = !final && (this.#flushTimer !== null || this.#flushImmediate);
    while (client.sentOffset < this.log.end && socket.isOpen) {
      if (bounded && socket.bufferedAmount > HIGH_WATER_BYTES) break;
      // While a flush is scheduled, a partial frame waits for it (or to fill up).
      if (batching && this.log.end - client.sentOffset < FRAME_CAP_BYTES) break;
      if (!this.log.has(client.sentOffset)) return this.#dropBehind(client);
      // Each send its own buffer from this client's pool, back only once the socket let go.
      const frame = client.frames.take();
      const chunk = this.log.copyInto(client.sentOffset, frame);
      client.sentOffset += chunk.length;
      client.inFlight += 1;
      socket.sendBinary(chunk, () => {
        client.inFlight -= 1;
        client.frames.give(frame);
        this.#onSent(client);
      });
    }
  }

  #onSent(client: AttachedClient): void {
    if (!this.#isAttached(client)) return;
    if (client.finishing && this.#exit) return this.#finish(client, this.#exit);
    if (client.sentOffset !== null && client.sentOffset < this.log.end && client.socket.bufferedAmount <= HIGH_WATER_BYTES) this.#send(client, false);
    this.#updateFlow();
  }

  #updateFlow(): void {
    const controller = this.#controller;
    if (!controller || controller.sentOffset === null) this.#setPaused(false);
    else {
      const lag = this.log.end - controller.sentOffset + controller.socket.bufferedAmount;
      if (!this.#paused && lag > HIGH_WATER_BYTES) this.#setPaused(true);
      else if (this.#paused && lag < LOW_WATER_BYTES) this.#setPaused(false);
    }
    // A socket also carries messages whose sends never call back here (sync-back's, on the
    // CLI's). If output is held back (or the PTY paused) because of them, nothing else would
    // pump again once they drained — and with the PTY paused no new output comes to do it:
    // re-check on a timer. Not while a flush is already on its way (it pumps and comes back
    // here), not for a client whose own frames are still in flight (their sends call back),
    // and not once nothing is held back: a chatty session armed one per PTY read, 100 useless
    // wake-ups a second.
    if (!this.#paused && !this.#anyHeldBack()) this.#cancelRecheck();
    else if (!this.#recheckTimer && this.#flushTimer === null && !this.#flushImmediate) {
      this.#recheckTimer = setTimeout(() => {
        this.#recheckTimer = null;
        if (this.#clients.length > 0) this.#pump();
      }, RECHECK_MS);
    }
  }

  #anyHeldBack(): boolean {
    for (const client of this.#clients) {
      if (client.sentOffset !== null && client.sentOffset < this.log.end && (client === this.#controller || client.inFlight === 0)) return true;
    }
    return false;
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
    this.#gitWantedAtExit = this.#gitHome !== null && this.#isAttached(this.#gitHome);
    this.#paused = false;
    if (this.#flushTimer) clearTimeout(this.#flushTimer);
    this.#flushTimer = null;
    // File changes the agent made just before exiting must reach the CLI before `exit` (then
    // 4001): the sender lets the watcher settle and sends them all, bounded in time.
    this.#exitFlush = this.sync?.flushPending?.()?.catch(() => undefined) ?? null;
    this.#pump(true);
    for (const client of this.#clients) if (client.greeted) this.#finishAfterFlush(client, exit);
    for (const listener of this.#exitListeners) listener(exit);
  }

  /** The CLI's `exit` waits for the last file changes; a browser gets none of them. */
  #finishAfterFlush(client: AttachedClient, exit: AgentExit): void {
    const flush = this.#exitFlush;
    if (!flush || !client.isCli) return this.#finish(client, exit);
    void flush.then(() => {
      if (this.#isAttached(client)) this.#finish(client, exit);
    });
  }

  /**
   * After the agent exited: the rest of the output, `exit`, then 4001. A watcher whose socket
   * is full gets the rest as it drains (#onSent comes back here).
   */
  #finish(client: AttachedClient, exit: AgentExit): void {
    client.finishing = true;
    this.#send(client, true);
    if (!this.#isAttached(client)) return;
    if (client.socket.isOpen && client.sentOffset !== null && client.sentOffset < this.log.end) return;
    client.socket.sendMessage({ type: 'exit', code: exit.code, signal: exit.signal });
    this.detach(client.socket);
    client.socket.close(CloseCode.sessionEnded, 'session ended');
  }
}
