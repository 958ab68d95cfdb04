/**
 * Refusing an upgrade: an HTTP answer written on the raw socket (no WebSocket was made), a JSON
 * ErrorBody like every other API error, then the socket is closed.
 */
import http from 'node:http';
import type { Duplex } from 'node:stream';
import type { ErrorBody } from '../../session-runtime/wire/errors.js';

export function refuse(socket: Duplex, status: number, body: string, contentType = 'application/json'): void {
  if (socket.destroyed) return;
  socket.end(
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? 'Error'}\r\nConnection: close\r\nContent-Type: ${contentType}\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

export function refuseJson(socket: Duplex, status: number, code: string, message: string): void {
  const body: ErrorBody = { error: { code, message } };
  refuse(socket, status, JSON.stringify(body));
}
