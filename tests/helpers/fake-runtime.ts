/**
 * A fake session runtime for CLI tests: a real HTTP + WebSocket server on 127.0.0.1:0 speaking
 * the real protocol module (session-runtime/protocol.ts), scripted by the test — so tests can
 * send hostile file messages, cut sockets mid-stream, or close with 4000/4001.
 */
import http from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';
import {
  MAX_FRAME_BYTES,
  PROTOCOL_VERSION,
  parseClientMessage,
  type ClientMessage,
  type RuntimeMessage,
} from '../../session-runtime/wire/protocol.js';
import { closeServer, listenLoopback } from './loopback.js';

export class FakeClient {
  readonly ws: WebSocket;
  readonly offset: number | undefined;
  readonly cols: number;
  readonly rows: number;
  readonly input: Buffer[] = [];
  readonly control: ClientMessage[] = [];
  closed = false;

  constructor(ws: WebSocket, url: URL) {
    this.ws = ws;
    const offset = url.searchParams.get('offset');
    this.offset = offset === null ? undefined : Number(offset);
    this.cols = Number(url.searchParams.get('cols') ?? 80);
    this.rows = Number(url.searchParams.get('rows') ?? 24);
    ws.on('message', (data: Buffer, isBinary) => {
      if (isBinary) this.input.push(Buffer.from(data));
      else {
        const msg = parseClientMessage(data.toString('utf8'));
        if (msg) this.control.push(msg);
      }
    });
    ws.on('close', () => (this.closed = true));
  }

  get inputText(): string {
    return Buffer.concat(this.input).toString('utf8');
  }

  send(msg: RuntimeMessage): void {
    this.ws.send(JSON.stringify(msg));
  }

  /** `cols`/`rows` other than the client asked for make the CLI answer with a resize. */
  hello(offset: number, extra: { screen?: string; agentRunning?: boolean; cols?: number; rows?: number } = {}): void {
    this.send({ type: 'hello', protocol: PROTOCOL_VERSION, offset, agentRunning: extra.agentRunning ?? true, cols: extra.cols ?? this.cols, rows: extra.rows ?? this.rows, ...(extra.screen !== undefined ? { screen: extra.screen } : {}) });
  }

  output(bytes: Buffer | string): void {
    this.ws.send(typeof bytes === 'string' ? Buffer.from(bytes) : bytes, { binary: true });
  }

  /** Resolves once every frame sent so far has been handed to the socket. */
  async flush(): Promise<void> {
    await new Promise<void>((resolve) => this.ws.send(Buffer.alloc(0), { binary: true }, () => resolve()));
  }

  exit(code: number): void {
    this.send({ type: 'exit', code, signal: null });
    this.ws.close(4001, 'agent exited');
  }

  close(code: number, reason = ''): void {
    this.ws.close(code, reason);
  }

  /** Cuts the TCP connection without a close frame. */
  cut(): void {
    this.ws.terminate();
  }
}

export interface FakeRuntimeOptions {
  token?: string;
  /** Called for each accepted WebSocket; the test scripts the conversation. */
  onConnect?: (client: FakeClient) => void;
  /** Answer to POST /upload (default 200 with counts). */
  uploadStatus?: number;
  /** Never read the upload body (a stalled network). */
  stallUpload?: boolean;
}

export class FakeRuntime {
  readonly url: string;
  readonly token: string;
  readonly uploads: Buffer[] = [];
  readonly clients: FakeClient[] = [];
  uploadQuery: URLSearchParams | null = null;
  onConnect: (client: FakeClient) => void;
  readonly #server: http.Server;
  readonly #wss: WebSocketServer;

  private constructor(server: http.Server, wss: WebSocketServer, options: FakeRuntimeOptions, url: string) {
    this.#server = server;
    this.#wss = wss;
    this.token = options.token ?? 'connect-token';
    this.onConnect = options.onConnect ?? ((c) => c.hello(0));
    this.url = url;
  }

  static async start(options: FakeRuntimeOptions = {}): Promise<FakeRuntime> {
    const server = http.createServer();
    const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES });
    const runtime = new FakeRuntime(server, wss, options, (await listenLoopback(server)).url);
    server.on('request', (req, res) => runtime.#request(req, res, options));
    server.on('upgrade', (req, socket, head) => {
      const url = new URL(req.url ?? '/', runtime.url);
      if (url.pathname !== '/connect' || req.headers.authorization !== `Bearer ${runtime.token}`) {
        socket.end('HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => {
        const client = new FakeClient(ws, url);
        runtime.clients.push(client);
        runtime.onConnect(client);
      });
    });
    return runtime;
  }

  #request(req: http.IncomingMessage, res: http.ServerResponse, options: FakeRuntimeOptions): void {
    const url = new URL(req.url ?? '/', this.url);
    if (req.method === 'POST' && url.pathname === '/upload') {
      if (req.headers.authorization !== `Bearer ${this.token}`) {
        res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'unauthorized', message: 'bad token' } }));
        return;
      }
      this.uploadQuery = url.searchParams;
      if (options.stallUpload) {
        req.pause();
        return;
      }
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        this.uploads.push(body);
        const status = options.uploadStatus ?? 200;
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(status === 200 ? { ok: true, files: 0, bytes: body.length } : { error: { code: 'refused', message: 'upload refused' } }));
      });
      return;
    }
    if (req.method === 'GET' && url.pathname === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: true, uploaded: true, agent: 'running', exitCode: null }));
      return;
    }
    res.writeHead(404).end();
  }

  async close(): Promise<void> {
    for (const client of this.clients) client.ws.terminate();
    this.#wss.close();
    await closeServer(this.#server);
  }
}
