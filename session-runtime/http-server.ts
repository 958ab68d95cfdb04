/**
 * HTTP routes and the WebSocket upgrade. Thin: each route parses and authenticates, then calls
 * the session.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { bearerMatches } from './auth.js';
import { DEFAULT_MAX_GIT_BUNDLE_BYTES, GIT_BUNDLE_CONTENT_TYPE, MAX_CLIENTS, MAX_FRAME_BYTES, RuntimePath, type SnapshotResult } from './wire/protocol.js';
import type { ErrorBody } from './wire/errors.js';
import type { Session } from './session.js';
import type { SnapshotOutcome } from './snapshots.js';
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

/** A refused upload's remaining body is read and dropped up to this much... */
export const DISCARD_MAX_BYTES = 16 * 1024 * 1024;
/** ...or for this long; then the connection is cut. */
export const DISCARD_MAX_MS = 5_000;

function discardBody(req: http.IncomingMessage, res: http.ServerResponse): void {
  if (req.complete) return;
  // Reused only if the body ends within bounds; otherwise the socket is destroyed below.
  let seen = 0;
  const cut = (): void => {
    clearTimeout(timer);
    req.socket.destroy();
  };
  const timer = setTimeout(cut, DISCARD_MAX_MS);
  timer.unref();
  req.on('data', (chunk: Buffer) => {
    seen += chunk.length;
    if (seen > DISCARD_MAX_BYTES) cut();
  });
  req.once('end', () => clearTimeout(timer));
  req.once('close', () => clearTimeout(timer));
  req.resume();
  // Without a body end in sight, do not offer keep-alive.
  if (!res.headersSent && req.headers['content-length'] === undefined && req.headers['transfer-encoding'] === undefined) res.setHeader('connection', 'close');
}

/** Parses an optional positive integer query value; undefined when absent, null when invalid. */
export function intParam(url: URL, name: string, min: number, max: number): number | undefined | null {
  const raw = url.searchParams.get(name);
  if (raw === null || raw === '') return undefined;
  if (!/^\d{1,15}$/.test(raw)) return null;
  const value = Number(raw);
  return value >= min && value <= max ? value : null;
}

const HEALTH = `GET ${RuntimePath.health}`;
const UPLOAD = `POST ${RuntimePath.upload}`;
const LOGS = `GET ${RuntimePath.logs}`;
const SNAPSHOT = `POST ${RuntimePath.snapshot}`;
const GIT_BUNDLE = `GET ${RuntimePath.gitBundle}`;
const FILES = `GET ${RuntimePath.files}`;
const FILE_DIFF = `GET ${RuntimePath.fileDiff}`;
const AUTHENTICATED = new Set([UPLOAD, LOGS, SNAPSHOT, GIT_BUNDLE, FILES, FILE_DIFF]);
const GIT_STATUS = { no_git: 404, no_branches: 409, too_large: 413, failed: 500 } as const;

/**
 * `snapshotNow`: takes a snapshot now, or null when this session takes none (no API to store
 * them, or the workspace is not in place yet).
 */
export function createHttpServer(session: Session, connectToken: string, snapshotNow: () => Promise<SnapshotOutcome> | null = () => null): http.Server {
  const server = http.createServer((req, res) => {
    void handle(req, res).catch(() => {
      if (!res.headersSent) sendError(res, 500, 'internal', 'Internal error');
      else res.destroy();
    });
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://runtime');
    const route = `${req.method} ${url.pathname}`;
    if (route === HEALTH) return sendJson(res, 200, session.health());
    if (!AUTHENTICATED.has(route)) return sendError(res, 404, 'not_found', 'No such route');
    if (!bearerMatches(req, connectToken)) {
      res.setHeader('connection', 'close');
      return sendError(res, 401, 'unauthorized', 'Missing or wrong connect token');
    }
    if (route === LOGS) {
      const tail = session.logTail();
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': tail.length });
      return void res.end(tail);
    }
    // The Files view (files/): read-only.
    if (route === FILES) return sendJson(res, 200, await session.files.tree());
    if (route === FILE_DIFF) {
      const outcome = await session.files.diff(url.searchParams.get('path'));
      return outcome.ok ? sendJson(res, 200, outcome.diff) : sendError(res, outcome.status, outcome.code, outcome.message);
    }
    if (route === GIT_BUNDLE) {
      const max = intParam(url, 'max', 1, Number.MAX_SAFE_INTEGER);
      if (max === null) return sendError(res, 400, 'invalid_request', 'max must be a positive integer');
      return session.gitBundle(max ?? DEFAULT_MAX_GIT_BUNDLE_BYTES, async (bundle) => {
        if (bundle.kind !== 'ok') return sendError(res, GIT_STATUS[bundle.kind], bundle.kind, bundle.message);
        res.writeHead(200, { 'content-type': GIT_BUNDLE_CONTENT_TYPE, 'content-length': bundle.size });
        await new Promise<void>((resolve) => {
          const stream = fs.createReadStream(bundle.file);
          stream.on('error', () => res.destroy());
          res.on('close', resolve);
          stream.pipe(res);
        }).finally(() => bundle.dispose());
      });
    }
    if (route === SNAPSHOT) {
      const taking = snapshotNow();
      if (!taking) return sendError(res, 409, 'no_snapshots', 'This session takes no snapshots yet (no workspace, or no API to store them)');
      const result: SnapshotResult = { outcome: await taking };
      return sendJson(res, 200, result);
    }
    const cols = intParam(url, 'cols', 1, 1000);
    const rows = intParam(url, 'rows', 1, 1000);
    if (cols === null || rows === null) return sendError(res, 400, 'invalid_request', 'cols and rows must be integers from 1 to 1000');
    try {
      const result = await session.upload(req, { cols, rows });
      sendJson(res, 200, result);
    } catch (err) {
      if (!(err instanceof UploadRejected)) throw err;
      // Refused while the body may still be arriving: answer, then read and discard the rest
      // (bounded). Closing at once would reset the connection under the client's feet, and a
      // reset can destroy the answer before the client reads it.
      discardBody(req, res);
      sendError(res, err.status, err.code, err.message);
    }
  }

  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES });
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://runtime');
    const reject = (status: number, text: string): void => {
      socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    };
    if (url.pathname !== RuntimePath.connect) return reject(404, 'Not Found');
    if (!bearerMatches(req, connectToken)) return reject(401, 'Unauthorized');
    const offset = intParam(url, 'offset', 0, Number.MAX_SAFE_INTEGER);
    const cols = intParam(url, 'cols', 1, 1000);
    const rows = intParam(url, 'rows', 1, 1000);
    const client = url.searchParams.get('client') ?? 'cli';
    const readonly = url.searchParams.get('readonly');
    if (offset === null || cols === null || rows === null) return reject(400, 'Bad Request');
    if ((client !== 'cli' && client !== 'browser') || (readonly !== null && readonly !== '1')) return reject(400, 'Bad Request');
    if (session.clientCount >= MAX_CLIENTS) return reject(429, 'Too Many Requests');
    wss.handleUpgrade(req, socket, head, (ws: WebSocket) => session.connect(ws, { offset, cols, rows, client, readonly: readonly === '1' }));
  });
  server.on('close', () => wss.close());
  return server;
}
