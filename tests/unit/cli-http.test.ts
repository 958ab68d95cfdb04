/**
 * The CLI's HTTP client (cli/http.ts) against a real server on loopback: JSON both ways, status,
 * request headers, a streamed body, and the errors the CLI explains (refused, timed out, cut
 * off).
 */
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeHttp } from '../../cli/http.js';
import { closeServer, freeLoopbackPort, listenLoopback } from '../helpers/loopback.js';

let server: http.Server;
let base: string;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString('utf8')));
    req.on('end', () => {
      switch (req.url) {
        case '/echo':
          res.setHeader('content-type', 'application/json');
          res.end(JSON.stringify({ method: req.method, body, length: req.headers['content-length'] ?? null, auth: req.headers.authorization ?? null }));
          return;
        case '/big':
          res.end(Buffer.alloc(1024 * 1024, 0x61));
          return;
        case '/slow':
          return; // never answers
        case '/cut':
          res.writeHead(200, { 'content-length': '100' });
          res.write('only part');
          setTimeout(() => res.destroy(), 20); // on purpose: cut off after the client has the head
          return;
        default:
          res.statusCode = 404;
          res.end('{"error":"not_found"}');
      }
    });
  });
  base = (await listenLoopback(server)).url;
});

afterAll(() => closeServer(server));

describe('nodeHttp', () => {
  it('sends a JSON body with its length and headers, and parses the answer', async () => {
    const response = await nodeHttp(`${base}/echo`, { method: 'POST', headers: { authorization: 'Bearer t' }, body: '{"ü":1}' });
    expect(response.ok).toBe(true);
    expect(response.status).toBe(200);
    const seen = (await response.json()) as { auth: string };
    expect(seen.auth).toBe('Bearer t');
    expect(seen).toEqual({ method: 'POST', body: '{"ü":1}', length: String(Buffer.byteLength('{"ü":1}')), auth: 'Bearer t' });
  });

  it('reports a non-2xx status with its body', async () => {
    const response = await nodeHttp(`${base}/missing`);
    expect(response.ok).toBe(false);
    expect(response.status).toBe(404);
    expect(await response.text()).toBe('{"error":"not_found"}');
  });

  it('streams a body', async () => {
    const response = await nodeHttp(`${base}/big`);
    let bytes = 0;
    for await (const chunk of response.body) bytes += (chunk as Buffer).length;
    expect(bytes).toBe(1024 * 1024);
  });

  it('rejects with the signal reason (a TimeoutError) when the server does not answer', async () => {
    await expect(nodeHttp(`${base}/slow`, { signal: AbortSignal.timeout(100) })).rejects.toMatchObject({ name: 'TimeoutError' });
  });

  it('rejects with ECONNREFUSED where nothing listens', async () => {
    const port = await freeLoopbackPort();
    await expect(nodeHttp(`http://127.0.0.1:${port}/`)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('rejects a body cut off before its end, and an unsupported scheme', async () => {
    const response = await nodeHttp(`${base}/cut`);
    await expect(response.text()).rejects.toThrow();
    await expect(nodeHttp('ftp://127.0.0.1/')).rejects.toThrow(/unsupported URL scheme ftp:/);
  });
});
