/**
 * HTTP routes and the WebSocket upgrade. Thin: each route parses and authenticates, then calls
 * the session.
 */
import http from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { bearerMatches } from './auth.js';
import { MAX_FRAME_BYTES, type ErrorBody } from './protocol.js';
import type { Session } from './session.js';
import { UploadRejected } from './upload/zip-plan.js';

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function sendError(res: http.ServerResponse, status: number, code: string, message: string): void {
  const body: ErrorBody = { error: { code, message } };
  sendJson(res, status, body);
}

/** Parses an optional positive integer query value; undefined when absent, null when invalid. */
export function intParam(url: URL, name: string, min: number, max: number): number | undefined | null {
  const raw = url.searchParams.get(name);
  if (raw === null || raw === '') return undefined;
  if (!/^\d{1,15}$/.test(raw)) return null;
  const value = Number(raw);
  return value >= min && value <= max ? value : null;
}

export function createHttpServer(session: Session, connectToken: string): http.Server {
  const server = http.createServer((req, res) => {
    void handle(req, res).catch(() => {
      if (!res.headersSent) sendError(res, 500, 'internal', 'Internal error');
      else res.destroy();
    });
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://runtime');
    const route = `${req.method} ${url.pathname}`;
    if (route === 'GET /healthz') return sendJson(res, 200, session.health());
    if (route !== 'POST /upload' && route !== 'GET /logs') return sendError(res, 404, 'not_found', 'No such route');
    if (!bearerMatches(req, connectToken)) {
      res.setHeader('connection', 'close');
      return sendError(res, 401, 'unauthorized', 'Missing or wrong connect token');
    }
    if (route === 'GET /logs') {
      const tail = session.logTail();
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': tail.length });
      return void res.end(tail);
    }
    const cols = intParam(url, 'cols', 1, 1000);
    const rows = intParam(url, 'rows', 1, 1000);
    if (cols === null || rows === null) return sendError(res, 400, 'invalid_request', 'cols and rows must be integers from 1 to 1000');
    try {
      const result = await session.upload(req, { cols, rows });
      sendJson(res, 200, result);
    } catch (err) {
      if (!(err instanceof UploadRejected)) throw err;
      // The body may not have been read to its end; do not reuse this connection.
      res.setHeader('connection', 'close');
      sendError(res, err.status, err.code, err.message);
      req.resume();
    }
  }

  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES });
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://runtime');
    const reject = (status: number, text: string): void => {
      socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    };
    if (url.pathname !== '/connect') return reject(404, 'Not Found');
    if (!bearerMatches(req, connectToken)) return reject(401, 'Unauthorized');
    const offset = intParam(url, 'offset', 0, Number.MAX_SAFE_INTEGER);
    const cols = intParam(url, 'cols', 1, 1000);
    const rows = intParam(url, 'rows', 1, 1000);
    if (offset === null || cols === null || rows === null) return reject(400, 'Bad Request');
    wss.handleUpgrade(req, socket, head, (ws: WebSocket) => session.connect(ws, { offset, cols, rows }));
  });
  server.on('close', () => wss.close());
  return server;
}
