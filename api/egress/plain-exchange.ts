/**
 * A plain request (forward.ts) sent and answered without node's HTTP client, so that the
 * answer's body crosses the proxy as raw reads into the exchange's one buffer (read-relay.ts):
 * node's client allocated a buffer per 64 KiB read and copied every body chunk again, which
 * with its streams cost the proxy 200–270 ms of CPU per 100 MB (P10); this costs 40–50.
 *
 * What goes up is what node's client sent (relay.ts does the same for the model route and
 * `--inject`): the request line, the end-to-end headers checked as node checks them, the
 * target's Host, `Connection: close` (one connection per request, never pooled), the body as
 * the client framed it (a chunked one chunked again). The answer's head is parsed strictly
 * (response-head.ts); its body is written on through the ServerResponse, which frames it for
 * the client and keeps the client's connection for its next request, while the body's end is
 * found here: Content-Length bytes, the zero-size chunk (chunks decoded, node re-frames them),
 * or the upstream's close. Interim (1xx) answers are dropped, as node's client dropped them.
 */
import http from 'node:http';
import type net from 'node:net';
import type { SessionContext } from './context.js';
import { endToEnd, hostHeader } from './headers.js';
import type { ReadRelay } from './read-relay.js';
import type { Outgoing } from './relay.js';
import { parseResponseHead, type ResponseHead } from './response-head.js';
import { answerRequest } from './responses.js';

// What node's client refuses in a path (ERR_UNESCAPED_CHARACTERS).
const INVALID_PATH = /[^\u0021-\u00ff]/;
const CHUNK_LINE_MAX = 4096;

/** Sends `req` over `socket` (connected, created with `relay.onread`) and streams the answer back. */
export function exchangePlain(ctx: SessionContext, req: http.IncomingMessage, res: http.ServerResponse, socket: net.Socket, relay: ReadRelay, out: Outgoing): void {
  const target = hostHeader(out.host.host, out.port, false);
  const chunkedUp = req.headers['transfer-encoding'] !== undefined && req.headers['content-length'] === undefined;
  const head = requestHead(req, out.path, target, chunkedUp);
  if (typeof head !== 'string') {
    socket.destroy();
    return answerRequest(req, res, 400, `catty: egress: the request cannot be forwarded (${head.code})\n`);
  }

  let done = false;
  const close = (): void => {
    socket.destroy();
    res.destroy();
  };
  const untrack = ctx.track({ method: req.method ?? 'GET', host: out.host, port: out.port, addresses: out.addresses, close });
  // Something went wrong: a clean answer while none has begun, else the client's side cut.
  const fail = (status: 502 | 504, why: string): void => {
    if (done) return;
    done = true;
    untrack();
    socket.destroy();
    if (!res.headersSent) answerRequest(req, res, status, `catty: egress: ${target} ${why}\n`);
    else res.destroy();
  };
  const finish = (): void => {
    done = true;
    untrack();
    res.end();
    socket.destroy();
  };
  socket.setTimeout(ctx.limits.idleTimeoutMs, () => fail(504, `sent nothing for ${ctx.limits.idleTimeoutMs} ms`));
  socket.on('error', (error: NodeJS.ErrnoException) => fail(502, `failed (${error.code ?? 'error'})`));
  socket.on('end', () => {
    if (done) return;
    if (reader.closeEnds()) finish();
    else fail(502, reader.started() ? 'closed before the end of its answer' : 'closed without answering (ECONNRESET)');
  });
  // The client gone before the answer is complete: nothing left to deliver.
  res.once('close', () => {
    untrack();
    if (!done) socket.destroy();
  });

  const reader = answerReader(ctx.limits.maxHeaderBytes, req.method ?? 'GET', {
    head(answer) {
      try {
        res.writeHead(answer.status, answer.reason, endToEnd(answer.headers));
      } catch {
        fail(502, 'answered with a header node cannot pass on');
        return false;
      }
      return true;
    },
    body: (part) => relay.pass(part),
    end: finish,
    problem: (why) => fail(502, why),
  });
  relay.start(socket, res, (chunk) => {
    if (!done) reader.read(chunk);
  });

  // Latin-1, as node's client wrote them: header values may hold obs-text, one byte each.
  socket.write(head, 'latin1');
  if (chunkedUp) sendChunked(req, socket);
  else req.pipe(socket, { end: false });
}

/** The request line and headers, or the code of what node would have refused. */
function requestHead(req: http.IncomingMessage, path: string, host: string, chunked: boolean): string | { code: string } {
  if (INVALID_PATH.test(path)) return { code: 'ERR_UNESCAPED_CHARACTERS' };
  const headers = endToEnd(req.headersDistinct);
  let head = `${req.method} ${path} HTTP/1.1\r\n`;
  try {
    for (const [name, value] of Object.entries(headers)) {
      for (const one of Array.isArray(value) ? value : [String(value)]) {
        http.validateHeaderName(name);
        http.validateHeaderValue(name, one);
        head += `${name}: ${one}\r\n`;
      }
    }
  } catch (error) {
    return { code: (error as NodeJS.ErrnoException).code ?? 'invalid' };
  }
  if (chunked) head += 'transfer-encoding: chunked\r\n';
  return `${head}host: ${host}\r\nConnection: close\r\n\r\n`;
}

/** The client's chunked body, chunked again (node decoded it), paused while the upstream is full. */
function sendChunked(req: http.IncomingMessage, socket: net.Socket): void {
  req.on('data', (chunk: Buffer) => {
    socket.write(`${chunk.length.toString(16)}\r\n`);
    socket.write(chunk);
    if (!socket.write('\r\n')) {
      req.pause();
      socket.once('drain', () => req.resume());
    }
  });
  req.on('end', () => socket.write('0\r\n\r\n'));
}

interface AnswerSink {
  /** false: the head could not be passed on (the exchange has failed). */
  head(answer: ResponseHead): boolean;
  body(part: Buffer): void;
  end(): void;
  problem(why: string): void;
}

/** Reads an answer from successive reads: its head (copied), then its body (passed on as views). */
function answerReader(maxHeaderBytes: number, method: string, sink: AnswerSink) {
  let pending: Buffer | null = Buffer.alloc(0);
  let framing: ResponseHead['framing'] | null = null;
  let left = 0;
  // Chunked: 'size' (reading a size line), 'data', 'crlf' (after the data), 'trailer' (lines to a blank one).
  let chunkState: 'size' | 'data' | 'crlf' | 'trailer' = 'size';
  let line = '';
  let over = false;

  const end = (): void => {
    over = true;
    sink.end();
  };
  const problem = (why: string): void => {
    over = true;
    sink.problem(why);
  };

  const readHead = (chunk: Buffer): void => {
    pending = Buffer.concat([pending!, chunk]);
    for (;;) {
      const parsed = parseResponseHead(pending, maxHeaderBytes, method);
      if (parsed === null) return;
      if ('problem' in parsed) return problem(parsed.problem);
      const rest: Buffer = pending.subarray(parsed.bytes);
      if (parsed.head.status === 101) return problem('answered 101 to a request that asked for no upgrade');
      if (parsed.head.status < 200) {
        pending = rest;
        continue;
      }
      pending = null;
      if (!sink.head(parsed.head)) return void (over = true);
      framing = parsed.head.framing;
      if (framing.kind === 'length') {
        left = framing.length;
        if (left === 0) return end();
      }
      // The rest is a copy: nothing of the relay's buffer is held by passing it on.
      if (rest.length > 0) readBody(rest);
      return;
    }
  };

  const readBody = (data: Buffer): void => {
    if (framing!.kind === 'close') return sink.body(data);
    if (framing!.kind === 'length') {
      const part = data.subarray(0, left);
      left -= part.length;
      sink.body(part);
      if (left === 0) end();
      return;
    }
    let at = 0;
    while (at < data.length && !over) {
      if (chunkState === 'data') {
        const part = data.subarray(at, at + left);
        at += part.length;
        left -= part.length;
        sink.body(part);
        if (left === 0) chunkState = 'crlf';
        continue;
      }
      // Size lines, the CRLF after data and trailer lines: read to their LF.
      const lf = data.indexOf(0x0a, at);
      line += data.subarray(at, lf < 0 ? data.length : lf + 1).toString('latin1');
      at = lf < 0 ? data.length : lf + 1;
      if (line.length > CHUNK_LINE_MAX) return problem('answered with a malformed chunk');
      if (lf < 0) return;
      const complete = line;
      line = '';
      if (chunkState === 'crlf') {
        if (complete !== '\r\n') return problem('answered with a malformed chunk');
        chunkState = 'size';
      } else if (chunkState === 'size') {
        const size = /^([0-9a-fA-F]{1,12})(?:[ \t]*;[^\r\n]*)?\r\n$/.exec(complete);
        if (!size) return problem('answered with a malformed chunk');
        left = parseInt(size[1]!, 16);
        chunkState = left === 0 ? 'trailer' : 'data';
      } else if (complete === '\r\n') {
        return end();
      }
    }
  };

  return {
    read(chunk: Buffer): void {
      if (over) return;
      if (pending !== null) readHead(chunk);
      else readBody(chunk);
    },
    /** Whether the upstream's close ends the answer well (its body runs to the close). */
    closeEnds: (): boolean => framing?.kind === 'close',
    started: (): boolean => framing !== null,
  };
}
