/**
 * The proxy's own answers, as text/plain, always closing the connection: on a raw socket (a
 * CONNECT that is refused or fails, a request node could not parse) and on a ServerResponse
 * (a plain request). Bodies are built from normalised hosts and our own phrases only.
 */
import http from 'node:http';
import type net from 'node:net';

export function rawResponse(status: number, body: string): string {
  return [
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? 'Error'}`,
    'Content-Type: text/plain; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Connection: close',
    '',
    body,
  ].join('\r\n');
}

/** Answers on a raw socket and closes it; what the client still sends is dropped. */
export function answerSocket(socket: net.Socket, status: number, body: string): void {
  if (socket.writable) socket.end(rawResponse(status, body));
  socket.resume();
  // A client that never reads must not keep the socket: gone after a short grace.
  setTimeout(() => socket.destroy(), 1_000).unref();
}

export function answerRequest(req: http.IncomingMessage, res: http.ServerResponse, status: number, body: string): void {
  if (res.headersSent) return void res.destroy();
  res.shouldKeepAlive = false;
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body), connection: 'close' });
  res.end(body);
  // Refused before the body was read: drop the rest rather than read it (it may never end).
  if (!req.complete) res.once('finish', () => req.socket.destroySoon());
}
