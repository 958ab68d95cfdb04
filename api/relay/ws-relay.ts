/**
 * Joins a client's WebSocket (downstream) to the runtime's (upstream) for as long as both are
 * open: messages both ways with their type, backpressure per direction (backpressure.ts),
 * independent heartbeats on each side, and the close of either side mirrored on the other
 * (close-codes.ts). Teardown is idempotent and bounded: a side that does not finish its close
 * handshake within CLOSE_TIMEOUT_MS is cut.
 */
import WebSocket from 'ws';
import { Forwarder, type Marks } from './backpressure.js';
import { mirrorClose } from './close-codes.js';

/** Like the runtime and the CLI: ping every 15 s; a side silent for a whole period is dead. */
export const PING_INTERVAL_MS = 15_000;
/** How long a close handshake may take before the socket is simply cut. */
export const CLOSE_TIMEOUT_MS = 5_000;

export interface PairOptions {
  pingIntervalMs?: number;
  marks?: Marks;
  /** Called once both sides are closed. */
  onEnd?: (end: { by: 'client' | 'runtime'; code: number }) => void;
  /** Which of the client's messages go on to the runtime (the browsers' watch-only rules,
   * browser-frames.ts); the others are dropped. Absent (the CLI's relay): every message goes,
   * through the very same listener as before this option existed. */
  acceptFromClient?: (data: Buffer, isBinary: boolean) => boolean;
}

interface Side {
  ws: WebSocket;
  name: 'client' | 'runtime';
  /** Heard from since the last ping (any frame or pong counts). */
  heard: boolean;
}

export interface RelayPair {
  /** Closes both sides (API shutdown): 1001 so the client reconnects. */
  close(code?: number, reason?: string): void;
  readonly ended: Promise<void>;
}

/** `upstream` must be open; `pending` holds messages it sent before the pair existed. */
export function pairSockets(downstream: WebSocket, upstream: WebSocket, options: PairOptions = {}, pending: Array<[Buffer, boolean]> = []): RelayPair {
  const client: Side = { ws: downstream, name: 'client', heard: true };
  const runtime: Side = { ws: upstream, name: 'runtime', heard: true };
  const toClient = new Forwarder(upstream, downstream, options.marks);
  const toRuntime = new Forwarder(downstream, upstream, options.marks);
  let finished = false;
  let resolveEnded!: () => void;
  const ended = new Promise<void>((resolve) => (resolveEnded = resolve));
  const timers: NodeJS.Timeout[] = [];

  const settleIfClosed = (): void => {
    if (client.ws.readyState !== WebSocket.CLOSED || runtime.ws.readyState !== WebSocket.CLOSED) return;
    for (const t of timers) clearTimeout(t);
    resolveEnded();
  };

  const closeSide = (side: Side, code: number, reason: string): void => {
    const { ws } = side;
    if (ws.readyState === WebSocket.CLOSED) return;
    if (ws.readyState === WebSocket.OPEN) ws.close(code, reason);
    const cut = setTimeout(() => ws.terminate(), CLOSE_TIMEOUT_MS);
    cut.unref();
    timers.push(cut);
  };

  /** One side closed (or died): stop forwarding, close the other with the mirrored code. */
  const finish = (by: Side, code: number, reason: string): void => {
    if (finished) return;
    finished = true;
    clearInterval(heartbeat);
    toClient.stop();
    toRuntime.stop();
    const other = by === client ? runtime : client;
    const mirrored = mirrorClose(code, reason);
    closeSide(other, mirrored.code, mirrored.reason);
    options.onEnd?.({ by: by.name, code });
  };

  const accept = options.acceptFromClient;
  for (const side of [client, runtime]) {
    const forwarder = side === client ? toRuntime : toClient;
    if (side === client && accept) {
      side.ws.on('message', (data: Buffer, isBinary: boolean) => {
        side.heard = true;
        if (accept(data, isBinary)) forwarder.forward(data, isBinary);
      });
    } else {
      side.ws.on('message', (data: Buffer, isBinary: boolean) => {
        side.heard = true;
        forwarder.forward(data, isBinary);
      });
    }
    side.ws.on('pong', () => (side.heard = true));
    side.ws.on('ping', () => (side.heard = true));
    side.ws.on('error', () => undefined); // the close event follows and carries what we need
    side.ws.on('close', (code: number, reason: Buffer) => {
      finish(side, code, reason.toString('utf8'));
      settleIfClosed();
    });
  }
  for (const [data, isBinary] of pending) toClient.forward(data, isBinary);

  const heartbeat = setInterval(() => {
    for (const side of [client, runtime]) {
      // A side we stopped reading (the other side is full) cannot answer: not its fault.
      const readingPaused = (side === client ? toRuntime : toClient).heldBack;
      if (!side.heard && !readingPaused) {
        side.ws.terminate(); // its close event (1006) closes the other side with 1001
        return;
      }
      side.heard = false;
      if (side.ws.readyState === WebSocket.OPEN) side.ws.ping();
    }
  }, options.pingIntervalMs ?? PING_INTERVAL_MS);
  heartbeat.unref();

  // Either side may have closed while we were wiring up.
  for (const side of [client, runtime]) if (side.ws.readyState !== WebSocket.OPEN) finish(side, 1006, '');
  settleIfClosed();

  return {
    ended,
    close(code = 1001, reason = 'the API is shutting down') {
      if (!finished) {
        finished = true;
        clearInterval(heartbeat);
        toClient.stop();
        toRuntime.stop();
      }
      closeSide(client, code, reason);
      closeSide(runtime, code, reason);
    },
  };
}
