/**
 * pairSockets on real `ws` sockets over loopback, with a stand-in runtime: frame types, close
 * codes both ways, and heartbeats that find a dead side and close the other with 1001.
 */
import http from 'node:http';
import { describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { pairSockets, type RelayPair } from '../../api/relay/ws-relay.js';
import { onCleanup } from '../helpers/cleanup.js';
import { closeServer, listenLoopback } from '../helpers/loopback.js';
import { waitFor } from '../helpers/wait.js';

interface Rig {
  /** The runtime's end of the current connection. */
  runtimeSide: () => WebSocket;
  client: WebSocket;
  clientGot: Array<{ data: string; binary: boolean }>;
  runtimeGot: Array<{ data: string; binary: boolean }>;
  clientClose: Promise<{ code: number; reason: string }>;
  runtimeClose: Promise<{ code: number; reason: string }>;
  pair: () => RelayPair;
}

const closed = (ws: WebSocket) => new Promise<{ code: number; reason: string }>((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));

async function rig(pingIntervalMs = 60_000): Promise<Rig> {
  const runtimeServer = http.createServer();
  const runtime = new WebSocketServer({ server: runtimeServer });
  const runtimeUrl = (await listenLoopback(runtimeServer)).url.replace(/^http/, 'ws');
  let runtimeWs: WebSocket | null = null;
  const runtimeGot: Rig['runtimeGot'] = [];
  let resolveRuntimeClose!: (v: { code: number; reason: string }) => void;
  const runtimeClose = new Promise<{ code: number; reason: string }>((r) => (resolveRuntimeClose = r));
  runtime.on('connection', (ws) => {
    runtimeWs = ws;
    ws.on('message', (d: Buffer, binary) => runtimeGot.push({ data: d.toString(), binary }));
    void closed(ws).then(resolveRuntimeClose);
    ws.send('{"type":"hello"}'); // sent before the client's side exists: must not be lost
  });
  const wss = new WebSocketServer({ noServer: true });
  let pair: RelayPair | null = null;
  const server = http.createServer();
  server.on('upgrade', (req, socket, head) => {
    const upstream = new WebSocket(`${runtimeUrl}/connect`);
    const pending: Array<[Buffer, boolean]> = [];
    const early = (d: Buffer, b: boolean) => void pending.push([d, b]);
    upstream.on('message', early);
    upstream.once('open', () =>
      wss.handleUpgrade(req, socket, head, (down) => {
        upstream.off('message', early);
        pair = pairSockets(down, upstream, { pingIntervalMs }, pending);
      }),
    );
  });
  const client = new WebSocket(`${(await listenLoopback(server)).url.replace(/^http/, 'ws')}/`);
  const clientGot: Rig['clientGot'] = [];
  client.on('message', (d: Buffer, binary) => clientGot.push({ data: d.toString(), binary }));
  const clientClose = closed(client);
  await new Promise((r) => client.once('open', r));
  await waitFor(() => runtimeWs, 'the runtime side');
  onCleanup(async () => {
    client.terminate();
    for (const ws of runtime.clients) ws.terminate();
    await closeServer(server);
    await new Promise((r) => runtime.close(r));
    await closeServer(runtimeServer);
  });
  await waitFor(() => pair, 'the pair');
  return { runtimeSide: () => runtimeWs!, client, clientGot, runtimeGot, clientClose, runtimeClose, pair: () => pair! };
}

describe('pairSockets', () => {
  it('keeps text as text and binary as binary both ways, the early hello included', async () => {
    const r = await rig();
    await waitFor(() => r.clientGot.length === 1, 'the hello');
    r.client.send('{"type":"resize","cols":1,"rows":1}');
    r.client.send(Buffer.from('keys'), { binary: true });
    r.runtimeSide().send(Buffer.from('output'), { binary: true });
    await waitFor(() => r.runtimeGot.length === 2 && r.clientGot.length === 2, 'the frames');
    expect(r.clientGot).toEqual([
      { data: '{"type":"hello"}', binary: false },
      { data: 'output', binary: true },
    ]);
    expect(r.runtimeGot).toEqual([
      { data: '{"type":"resize","cols":1,"rows":1}', binary: false },
      { data: 'keys', binary: true },
    ]);
  });

  it('passes 4001 and 4000 from the runtime, with their reasons, after the last frames', async () => {
    for (const [code, reason] of [[4001, 'session ended'], [4000, 'replaced by a newer connection']] as const) {
      const r = await rig();
      r.runtimeSide().send(Buffer.from('last bytes'), { binary: true });
      r.runtimeSide().close(code, reason);
      expect(await r.clientClose).toEqual({ code, reason });
      expect(r.clientGot.at(-1)).toEqual({ data: 'last bytes', binary: true });
    }
  });

  it('passes the client’s close to the runtime', async () => {
    const r = await rig();
    r.client.close(1000, 'detach');
    expect(await r.runtimeClose).toEqual({ code: 1000, reason: 'detach' });
  });

  it('a runtime that vanishes (no close frame) closes the client with 1001', async () => {
    const r = await rig();
    r.runtimeSide().terminate();
    expect((await r.clientClose).code).toBe(1001);
  });

  it('heartbeats find a dead client and close the runtime side with 1001', async () => {
    const r = await rig(200);
    // The client stops reading (its pongs never come): after a silent period it is cut.
    r.client.pause();
    const started = Date.now();
    expect((await r.runtimeClose).code).toBe(1001);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('close() (API shutdown) ends both sides with 1001, and `ended` settles', async () => {
    const r = await rig();
    r.pair().close();
    expect((await r.clientClose).code).toBe(1001);
    expect((await r.runtimeClose).code).toBe(1001);
    await r.pair().ended;
  });
});
