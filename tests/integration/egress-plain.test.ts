// Plain HTTP through the egress proxy (api/egress/plain-exchange.ts), whose answers are read
// raw: scripted upstreams (raw TCP, each answer written in pieces so it spans many reads) and a
// client that keeps its connection to the proxy. What must hold: every framing of a body ends
// where it should — Content-Length, chunks (extensions, trailers), the close — so the client's
// next request on the same connection gets its own answer, never bytes an upstream sent past
// the end of its body; interim answers are dropped; a malformed head is a 502; a body cut short
// is not passed off as complete; a big body reaches a slow reader intact.
import crypto from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { staticResolver } from '../../api/egress/index.js';
import { onCleanup } from '../helpers/cleanup.js';
import { policy, rawExchange, startEgress, startUpstream } from '../helpers/egress.js';
import { listenLoopback } from '../helpers/loopback.js';
import { waitFor } from '../helpers/wait.js';

/** A raw upstream: reads a request head, writes `answer(path)` in pieces (a tick apart), then ends. */
async function scripted(answer: (path: string) => { pieces: (string | Buffer)[]; end?: boolean }): Promise<number> {
  const server = net.createServer((socket) => {
    socket.on('error', () => undefined);
    let head = '';
    const onData = (chunk: Buffer): void => {
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      socket.resume();
      const { pieces, end = true } = answer(/^\S+ (\S+)/.exec(head)![1]!);
      const next = (): void => {
        const piece = pieces.shift();
        if (piece === undefined) return void (end && socket.end());
        socket.write(piece, () => setTimeout(next, 2));
      };
      next();
    };
    socket.on('data', onData);
  });
  const { port } = await listenLoopback(server);
  onCleanup(() => new Promise((resolve) => server.close(resolve)));
  return port;
}

/** Splits `text` into pieces of `size` bytes (so heads, chunk lines and bodies straddle reads). */
const pieces = (text: string | Buffer, size: number): Buffer[] => {
  const all = Buffer.from(text);
  return Array.from({ length: Math.ceil(all.length / size) }, (_, i) => all.subarray(i * size, (i + 1) * size));
};

interface Got {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  complete: boolean;
  reused: boolean;
}

/** A request through the proxy with `agent` (keep-alive: the same connection each time). */
function get(socketPath: string, url: string, agent: http.Agent | false, method = 'GET'): Promise<Got> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, path: url, method, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      const done = (): void => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), complete: res.complete, reused: req.reusedSocket });
      res.on('end', done);
      res.on('aborted', done);
      res.on('error', () => undefined);
    });
    req.on('error', reject);
    req.end();
  });
}

const sha = (data: Buffer): string => crypto.createHash('sha256').update(data).digest('hex');

async function proxyFor(...ports: number[]): Promise<{ socketPath: string; agent: http.Agent }> {
  const egress = startEgress({ resolver: staticResolver({}), limits: { maxHeaderBytes: 4096 } });
  const socketPath = await egress.open('s1', policy('none', ...ports.map((p) => `127.0.0.1:${p}`)));
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  onCleanup(() => agent.destroy());
  return { socketPath, agent };
}

describe('61: plain HTTP answers read raw', () => {
  it('61: each framing ends where it should: the next request on the connection gets its own answer, not what an upstream sent past its end', async () => {
    const port = await scripted((path) => {
      switch (path) {
        case '/length':
          // Past the 2 bytes, in the same write: a whole forged answer, which the client must
          // never see (it would take it for its next one, or drop the connection).
          return { pieces: ['HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Kind: length\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nforged'] };
        case '/chunked':
          return { pieces: pieces('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nforged', 3) };
        case '/close':
          return { pieces: pieces('HTTP/1.1 200 OK\r\nX-Kind: close\r\n\r\nuntil the end', 4) };
        case '/interim':
          return { pieces: pieces('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 4\r\n\r\nmade', 7) };
        case '/head':
          return { pieces: ['HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n'], end: false };
        default:
          return { pieces: ['HTTP/1.1 204 No Content\r\nX-Path: ', path, '\r\n\r\n'] };
      }
    });
    const { socketPath, agent } = await proxyFor(port);
    const url = (path: string): string => `http://127.0.0.1:${port}${path}`;

    const length = await get(socketPath, url('/length'), agent);
    expect(length).toMatchObject({ status: 200, complete: true });
    expect(length.body.toString()).toBe('ok');
    const chunked = await get(socketPath, url('/chunked'), agent);
    expect(chunked).toMatchObject({ status: 200, complete: true, reused: true });
    expect(chunked.body.toString()).toBe('hello, world');
    expect(chunked.headers['transfer-encoding']).toBe('chunked');
    const interim = await get(socketPath, url('/interim'), agent);
    expect(interim).toMatchObject({ status: 201, complete: true, reused: true });
    expect(interim.body.toString()).toBe('made');
    // HEAD: no body whatever Content-Length says; the upstream that never closes does not hold it.
    const head = await get(socketPath, url('/head'), agent, 'HEAD');
    expect(head).toMatchObject({ status: 200, complete: true, reused: true });
    expect(head.headers['content-length']).toBe('100');
    expect((await get(socketPath, url('/after'), agent)).headers['x-path']).toBe('/after');
    // The close ends this one, and the client's connection is still good for the next.
    const close = await get(socketPath, url('/close'), agent);
    expect(close).toMatchObject({ status: 200, complete: true });
    expect(close.body.toString()).toBe('until the end');
    expect(await get(socketPath, url('/last'), agent)).toMatchObject({ status: 204, reused: true });
  });

  it('61: a malformed head is a 502 naming what was wrong; a body cut short is not passed off as complete', async () => {
    const answers: Record<string, string> = {
      '/both': 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n',
      '/two-lengths': 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd',
      '/bad-length': 'HTTP/1.1 200 OK\r\nContent-Length: 3x\r\n\r\nabc',
      '/folded': 'HTTP/1.1 200 OK\r\nX-A: 1\r\n  folded\r\nContent-Length: 0\r\n\r\n',
      '/bad-name': 'HTTP/1.1 200 OK\r\nX A: 1\r\nContent-Length: 0\r\n\r\n',
      '/control': 'HTTP/1.1 200 OK\r\nX-A: a\x01b\r\nContent-Length: 0\r\n\r\n',
      '/not-http': 'SSH-2.0-OpenSSH\r\n\r\n',
      '/huge': `HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(8192)}\r\nContent-Length: 0\r\n\r\n`,
      '/bad-chunk': 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n',
      '/short': 'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nonly5',
      '/short-chunked': 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n',
      '/silent': '',
    };
    const port = await scripted((path) => ({ pieces: pieces(answers[path]!, 6) }));
    const { socketPath } = await proxyFor(port);
    const url = (path: string): string => `http://127.0.0.1:${port}${path}`;
    // A connection each: the proxy's 502 closes the one it was on.
    const agent = false;
    const expected: Record<string, RegExp> = {
      '/both': /both Transfer-Encoding and Content-Length/,
      '/two-lengths': /malformed Content-Length/,
      '/bad-length': /malformed Content-Length/,
      '/folded': /malformed header/,
      '/bad-name': /malformed header/,
      '/control': /malformed header/,
      '/not-http': /not HTTP\/1\.1/,
      '/huge': /headers that are too large/,
      '/silent': /closed without answering/,
    };
    for (const [path, why] of Object.entries(expected)) {
      const got = await get(socketPath, url(path), agent).catch((error: Error) => { throw new Error(`${path}: ${error.message}`); });
      expect(got.status, path).toBe(502);
      expect(got.body.toString(), path).toMatch(why);
      expect(got.body.toString(), path).toContain(`127.0.0.1:${port}`);
    }
    // Cut before the client got the head (a hang-up) or after (an incomplete body): never an end.
    for (const path of ['/bad-chunk', '/short', '/short-chunked']) {
      const got = await get(socketPath, url(path), agent).catch((error: NodeJS.ErrnoException) => error.code);
      if (typeof got === 'string') expect(got, path).toBe('ECONNRESET');
      else expect(got, path).toMatchObject({ status: 200, complete: false });
    }
  });

  it('an upstream that answers before the upload ends: the client gets that answer, and its next request is served', async () => {
    const port = await scripted((path) => ({ pieces: [path === '/upload' ? 'HTTP/1.1 413 Payload Too Large\r\nContent-Length: 4\r\n\r\nbig!' : 'HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nnext'] }));
    const { socketPath, agent } = await proxyFor(port);
    const body = Buffer.alloc(4 * 1024 * 1024, 120);
    const first = await new Promise<Got>((resolve, reject) => {
      const req = http.request({ socketPath, path: `http://127.0.0.1:${port}/upload`, method: 'POST', agent, headers: { 'content-length': body.length } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), complete: res.complete, reused: false }));
      });
      req.on('error', reject);
      req.end(body);
    });
    expect(first).toMatchObject({ status: 413, complete: true });
    expect(first.body.toString()).toBe('big!');
    const next = await get(socketPath, `http://127.0.0.1:${port}/next`, agent);
    expect(next.status).toBe(200);
    expect(next.body.toString()).toBe('next');
  });

  it('an answer done upstream but not yet sent to its slow client keeps its buffer from the next exchange', async () => {
    const bodies = { '/a': crypto.randomBytes(6 * 1024 * 1024), '/b': crypto.randomBytes(6 * 1024 * 1024) };
    const upstream = await startUpstream({
      handler: (req, res) => {
        const body = bodies[req.url as '/a' | '/b'];
        res.writeHead(200, { 'content-length': body.length });
        res.end(body);
      },
    });
    const egress = startEgress({ resolver: staticResolver({}) });
    const socketPath = await egress.open('s1', policy('none', `127.0.0.1:${upstream.port}`));
    const fetchAll = (path: string, onNearEnd?: (res: http.IncomingMessage) => void): Promise<Buffer> =>
      new Promise((resolve, reject) => {
        http
          .get({ socketPath, path: `http://127.0.0.1:${upstream.port}${path}`, agent: false }, (res) => {
            const chunks: Buffer[] = [];
            let got = 0;
            res.on('data', (c: Buffer) => {
              chunks.push(c);
              got += c.length;
              if (onNearEnd && got >= 6 * 1024 * 1024 - 768 * 1024) {
                onNearEnd(res);
                onNearEnd = undefined;
              }
            });
            res.on('end', () => resolve(Buffer.concat(chunks)));
          })
          .on('error', reject);
      });
    // /a's client stops 768 KiB before the end; once the proxy has read all of /a (its upstream
    // released) — the last of it waiting in a write to that client — /b runs to its end.
    let b: Promise<Buffer> | undefined;
    const a = fetchAll('/a', (res) => {
      res.pause();
      b = (async () => {
        await waitFor(() => egress.proxy.stats('s1')!.upstreams === 0, "the proxy to be done with /a's upstream");
        const got = await fetchAll('/b');
        res.resume();
        return got;
      })();
    });
    const gotA = await a;
    const gotB = await b!;
    expect(sha(gotB)).toBe(sha(bodies['/b']));
    expect(sha(gotA)).toBe(sha(bodies['/a']));
  });

  it('a header value with obs-text goes up byte for byte (Latin-1, as node\'s client sent it)', async () => {
    const upstream = await startUpstream();
    const { socketPath } = await proxyFor(upstream.port);
    const request = Buffer.concat([
      Buffer.from(`GET http://127.0.0.1:${upstream.port}/latin HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Latin: caf`),
      Buffer.from([0xe9]),
      Buffer.from('\r\n\r\n'),
    ]);
    expect(await rawExchange(socketPath, request)).toMatch(/^HTTP\/1\.1 200 /);
    expect(upstream.seen[0]!.headers['x-latin']).toBe('caf\u00e9');
  });

  it('24 MiB with a Content-Length reach a slow reader intact, and the connection serves the next request', async () => {
    const body = crypto.randomBytes(24 * 1024 * 1024);
    const upstream = await startUpstream({
      handler: (req, res) => {
        if (req.url !== '/big') return res.end('next');
        res.writeHead(200, { 'content-length': body.length });
        res.end(body);
      },
    });
    const { socketPath, agent } = await proxyFor(upstream.port);
    const received = await new Promise<Buffer>((resolve, reject) => {
      http
        .get({ socketPath, path: `http://127.0.0.1:${upstream.port}/big`, agent }, (res) => {
          const chunks: Buffer[] = [];
          let got = 0;
          let nextStop = 2 * 1024 * 1024;
          res.on('data', (c: Buffer) => {
            chunks.push(c);
            got += c.length;
            if (got < nextStop) return;
            nextStop += 2 * 1024 * 1024;
            res.pause();
            setTimeout(() => res.resume(), 20);
          });
          res.on('end', () => resolve(Buffer.concat(chunks)));
        })
        .on('error', reject);
    });
    expect(received.length).toBe(body.length);
    expect(crypto.createHash('sha256').update(received).digest('hex')).toBe(crypto.createHash('sha256').update(body).digest('hex'));
    expect(await get(socketPath, `http://127.0.0.1:${upstream.port}/next`, agent)).toMatchObject({ status: 200, reused: true });
  });
});
