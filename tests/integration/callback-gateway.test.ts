/**
 * A sandboxed machine's own route out (api/node/callback-gateway.ts), driven as the
 * runtime drives it (session-runtime/outbound.ts, over the real Unix socket): the API's runtime
 * routes pass, a presigned PUT passes once (plain HTTP, or HTTPS through a CONNECT with TLS end
 * to end), and everything else — the API's user routes, storage reads, unsigned or reused PUTs,
 * a tunnel anywhere else, a request not in absolute form — is refused with a 403 (or 400) and
 * never reaches the upstream.
 */
import http from 'node:http';
import type https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../api/logger.js';
import { openCallbackGateway, type CallbackGateway } from '../../api/node/callback-gateway.js';
import { viaSocket, type Outbound } from '../../session-runtime/outbound.js';
import { startUpstream, testCert, type Seen } from '../helpers/egress.js';
import { closeServer, listenLoopback } from '../helpers/loopback.js';
import { tempDir } from '../helpers/temp-dir.js';

let gateway: CallbackGateway;
let socketPath: string;
let send: Outbound;
let apiUrl: string;
let apiServer: http.Server;
const apiSeen: string[] = [];
/** What the fake API's presign answers next. */
let nextPresign = '';

beforeAll(async () => {
  apiServer = http.createServer((req, res) => {
    apiSeen.push(`${req.method} ${req.url}`);
    req.resume();
    req.on('end', () => {
      const body = req.url === '/v1/runtime/snapshots/presign' ? { key: 'sessions/s1/snapshots/a.tar.gz', url: nextPresign, headers: {} } : { ok: true };
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    });
  });
  apiUrl = (await listenLoopback(apiServer)).url;
  socketPath = path.join(tempDir('gateway'), 'callback.sock');
  gateway = await openCallbackGateway(socketPath, apiUrl, silentLogger());
  send = viaSocket(socketPath);
});
afterAll(async () => {
  await gateway?.close();
  await closeServer(apiServer);
});

function ask(url: string, method: string, body = '', options: https.RequestOptions = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = send(new URL(url), { ...options, method, headers: { 'content-type': 'application/octet-stream', 'content-length': Buffer.byteLength(body) } }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const puts = (seen: Seen[]) => seen.filter((s) => s.method === 'PUT').map((s) => `${s.url} ${s.body}`);

describe('the machine’s route out (callback gateway)', () => {
  it('passes the API’s runtime routes; refuses its user routes (the API never sees them)', async () => {
    expect((await ask(`${apiUrl}/v1/runtime/heartbeat`, 'POST', '{}')).status).toBe(200);
    const refused = await ask(`${apiUrl}/v1/sessions`, 'GET');
    expect(refused.status).toBe(403);
    expect(refused.body).toContain('reaches only the API’s runtime routes and the snapshot uploads it presigned');
    expect(apiSeen).toEqual(['POST /v1/runtime/heartbeat']);
  });

  it('passes a PUT to a URL the API presigned, once; refuses reads, unsigned and reused PUTs', async () => {
    const storage = await startUpstream();
    const signed = `http://127.0.0.1:${storage.port}/catty/sessions/s1/snapshots/a.tar.gz?X-Amz-Signature=abc`;
    expect((await ask(`http://127.0.0.1:${storage.port}/catty/sessions/s1/snapshots/a.tar.gz`, 'PUT', 'unsigned')).status).toBe(403);
    nextPresign = signed;
    expect((await ask(`${apiUrl}/v1/runtime/snapshots/presign`, 'POST', '{"size":8}')).status).toBe(200);
    expect((await ask(signed, 'GET')).status).toBe(403);
    expect((await ask(signed, 'PUT', 'snapshot')).status).toBe(200);
    expect((await ask(signed, 'PUT', 'again')).status).toBe(403);
    expect((await ask(`http://127.0.0.1:${storage.port}/catty/`, 'GET')).status).toBe(403);
    expect(puts(storage.seen)).toEqual(['/catty/sessions/s1/snapshots/a.tar.gz?X-Amz-Signature=abc snapshot']);
    expect(storage.seen).toHaveLength(1);
  });

  it('tunnels to an HTTPS store only while a URL it presigned there is fresh; TLS is end to end', async () => {
    const storage = await startUpstream({ secure: true });
    const signed = `https://127.0.0.1:${storage.port}/catty/sessions/s1/snapshots/b.tar.gz?X-Amz-Signature=def`;
    await expect(ask(signed, 'PUT', 'early', { ca: testCert().cert })).rejects.toThrow(/refused 127\.0\.0\.1:\d+ \(403\)/);
    nextPresign = signed;
    expect((await ask(`${apiUrl}/v1/runtime/snapshots/presign`, 'POST', '{"size":8}')).status).toBe(200);
    // The certificate is checked by the runtime, not by the route: an unknown CA fails.
    await expect(ask(signed, 'PUT', 'unverified')).rejects.toThrow(/self-signed|certificate/);
    expect((await ask(signed, 'PUT', 'over tls', { ca: testCert().cert })).status).toBe(200);
    expect(puts(storage.seen)).toEqual(['/catty/sessions/s1/snapshots/b.tar.gz?X-Amz-Signature=def over tls']);
    // Nowhere else: the API's port is not a store.
    await expect(ask(`https://127.0.0.1:${new URL(apiUrl).port}/x`, 'GET', '', { ca: testCert().cert })).rejects.toThrow(/refused/);
  });

  it('refuses a request that is not in absolute form (400)', async () => {
    const answer = await new Promise<string>((resolve) => {
      const socket = net.connect(socketPath, () => socket.end('GET /v1/runtime/heartbeat HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
      let text = '';
      socket.on('data', (c: Buffer) => (text += c.toString()));
      socket.on('close', () => resolve(text));
    });
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
  });
});
