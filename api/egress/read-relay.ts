/**
 * The cheapest way node offers to carry bytes from a socket we open to another one: the source
 * reads into one buffer of its own (net's `onread`, given when the socket is created) and each
 * read is written on to the sink as it is — no buffer allocated per read, no stream between the
 * two, reads of up to the buffer's size rather than node's 64 KiB.
 *
 * Measured for P10 (100 MB, 2 cores): `source.pipe(sink)` costs 80–110 ms of the relay's CPU
 * per 100 MB, a third of it the collector freeing a fresh 64 KiB buffer per read; this 40–60 ms,
 * near a blocking read/write relay in C on the same machine (30 ms).
 *
 * Backpressure: the buffer is the only copy of what a pending write holds, so while the sink
 * has any of it unsent the source reads nothing (node's readStop; the kernel's buffers fill
 * and the sender is held up), and reads again once that write is done. So at most one buffer
 * per direction is held, whatever the rates.
 */
import type net from 'node:net';

/** Default size: reads of 1 MiB carried P10 at the C relay's cost; 256 KiB cost half again. */
export const READ_RELAY_BYTES = 1024 * 1024;

// Buffers of relays that are done, for the next ones. A new 1 MiB buffer per connection (and
// the collector's work to free it: V8 counts it as external memory) cost P10's 200 small HTTPS
// requests 8–20 ms at p99, against 0.4–2 ms with 64 KiB buffers or with these kept. A few at
// most, each of them as resident as its largest read was.
const SPARE_MAX = 4;
const spare: Buffer[] = [];

// A read can fill the whole buffer (a fast sender, a slow reader), so large buffers are a budget
// of the host's, not the session's: at most LARGE_MAX of them are out at once across every
// session's relays; beyond it a relay reads into SMALL_BYTES (node's own read size), slower but
// bounded. Without it an agent holding 256 slow downloads (the per-session limit) would pin
// 256 MiB of the host's memory, several sessions more.
const LARGE_MAX = 64;
const SMALL_BYTES = 64 * 1024;
let largeOut = 0;

/** Buffers larger than SMALL_BYTES currently held by relays (for tests). */
export const largeBuffersOut = (): number => largeOut;

function takeBuffer(wanted: number): Buffer {
  const bytes = wanted > SMALL_BYTES && largeOut >= LARGE_MAX ? SMALL_BYTES : wanted;
  if (bytes > SMALL_BYTES) largeOut++;
  const found = spare.findIndex((b) => b.length === bytes);
  // allocUnsafe: only what a read filled is ever written on. Pages no read reaches are never
  // made resident: an idle or slow tunnel costs its largest read, not the whole buffer
  // (measured: 200 buffers of 1 MiB, 16 KiB read into each, +5 MB RSS).
  return found < 0 ? Buffer.allocUnsafe(bytes) : spare.splice(found, 1)[0]!;
}

/** Where the bytes go: a socket, or a response (whose writableLength counts its socket's). */
export interface RelaySink {
  write(chunk: Buffer, done: (error?: Error | null) => void): boolean;
  readonly writableLength: number;
}

export interface ReadRelay {
  /** For `net.connect({ ..., onread })`: the source's buffer and what each read does. */
  readonly onread: { buffer: Buffer; callback: (bytes: number, buffer: Buffer) => boolean };
  /** Starts handing reads to `consume` (default: pass each on whole); a read that came before
   * is handed over first. */
  start(source: net.Socket, sink: RelaySink, consume?: (chunk: Buffer) => void): void;
  /** Writes `part` of the read being consumed (a view of the buffer, or a copy) to the sink. */
  pass(part: Buffer): void;
  /** The relay will not be started (the connection failed or its client went): its buffer
   * goes back. Nothing once started (its source's close gives the buffer back). */
  release(): void;
}

export function createReadRelay(bytes: number = READ_RELAY_BYTES): ReadRelay {
  const buffer = takeBuffer(bytes);
  let source: net.Socket | null = null;
  let sink: RelaySink | null = null;
  let consume: (chunk: Buffer) => void = () => undefined;
  // A read before start() (a server that speaks first, should its bytes come that soon): kept,
  // and reading stops until start().
  let early: Buffer | null = null;
  let writes = 0;
  let passed = false;
  // The buffer goes back for another relay once the source has closed (it reads no more) and
  // every write of it is done. A write whose callback never comes keeps it: the collector's.
  let unfinished = 0;
  let sourceClosed = false;
  let returned = false;
  const giveBack = (): void => {
    if (!sourceClosed || unfinished !== 0 || returned) return;
    returned = true;
    if (buffer.length > SMALL_BYTES) largeOut--;
    if (spare.length < SPARE_MAX) spare.push(buffer);
  };

  const pass = (part: Buffer): void => {
    passed = true;
    unfinished++;
    const write = ++writes;
    sink!.write(part, () => {
      unfinished--;
      giveBack();
      // Only the last write can be the one waited for; earlier ones' callbacks come late.
      if (write === writes && !source!.readableFlowing) source!.resume();
    });
  };
  /** Hands `chunk` over; false (reading stops) while what was passed of it is not all sent. */
  const handle = (chunk: Buffer): boolean => {
    passed = false;
    consume(chunk);
    if (!passed || sink!.writableLength === 0) return true;
    source!.pause();
    return false;
  };

  return {
    onread: {
      buffer,
      callback(count, filled) {
        if (!sink) {
          early = Buffer.from(filled.subarray(0, count));
          return false;
        }
        return handle(filled.subarray(0, count));
      },
    },
    start(from, to, reads = pass) {
      source = from;
      sink = to;
      from.once('close', () => {
        sourceClosed = true;
        giveBack();
      });
      consume = reads;
      const pending = early;
      early = null;
      if (pending === null || handle(pending)) from.resume();
    },
    pass,
    release() {
      if (source) return;
      sourceClosed = true;
      giveBack();
    },
  };
}
