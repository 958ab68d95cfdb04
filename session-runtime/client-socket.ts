/**
 * The relay's view of one client connection: a small interface in front of `ws`, so session
 * logic can be unit-tested with a fake socket.
 */
import type { WebSocket } from 'ws';
import type { RuntimeMessage } from './wire/protocol.js';

export interface ClientSocket {
  /** Bytes queued in user space that the kernel has not taken yet. */
  readonly bufferedAmount: number;
  readonly isOpen: boolean;
  /**
   * `onSent` runs once the frame has been handed to the kernel (or the socket failed); from
   * then on `data` is not referenced, and the caller may reuse its memory.
   */
  sendBinary(data: Buffer, onSent?: () => void): void;
  sendMessage(message: RuntimeMessage, onSent?: () => void): void;
  close(code: number, reason: string): void;
}

export function wsClientSocket(ws: WebSocket): ClientSocket {
  return {
    get bufferedAmount() {
      return ws.bufferedAmount;
    },
    get isOpen() {
      return ws.readyState === ws.OPEN;
    },
    sendBinary(data, onSent) {
      if (ws.readyState !== ws.OPEN) return;
      ws.send(data, { binary: true }, () => onSent?.());
    },
    sendMessage(message, onSent) {
      if (ws.readyState !== ws.OPEN) return;
      ws.send(JSON.stringify(message), { binary: false }, () => onSent?.());
    },
    close(code, reason) {
      if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) ws.close(code, reason);
    },
  };
}
