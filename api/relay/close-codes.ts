/**
 * Close codes across the relay. What one side said is what the other side hears: 1008, 1009,
 * 4000 ("replaced") and 4001 ("session ended") keep their code and reason, so the CLI's
 * reconnect rules work through the API exactly as against the runtime. One code is the relay's
 * own: 4003 (CloseCode.accessEnded) closes a browser's terminal whose grant ended while it was
 * open (share link revoked or expired, web session logged out; grants.ts) — like 4001, "do not
 * reconnect": the same grant is refused at the next upgrade. Codes that only
 * describe the local socket (1005 "no code", 1006 "dropped", 1015 TLS) cannot be sent in a
 * close frame; they are mapped to the nearest code a client may receive.
 */
import { CloseCode } from '../../session-runtime/wire/protocol.js';

const NO_STATUS = 1005;
const ABNORMAL = 1006;

/** True for codes a close frame may carry (RFC 6455 §7.4; mirrors ws's own check). */
function sendable(code: number): boolean {
  return (code >= 1000 && code <= 1014 && code !== 1004 && code !== NO_STATUS && code !== ABNORMAL) || (code >= 3000 && code <= 4999);
}

/** A close reason is at most 123 bytes of UTF-8. */
function clampReason(reason: string): string {
  let out = reason;
  while (Buffer.byteLength(out) > 123) out = out.slice(0, -1);
  return out;
}

/** The code and reason to send on one side after the other side closed with `code`. */
export function mirrorClose(code: number, reason: string): { code: number; reason: string } {
  // A clean close with no code: still clean.
  if (code === NO_STATUS) return { code: CloseCode.normal, reason: '' };
  // The peer vanished without a close frame: tell the other side the relay's peer went away,
  // which clients treat as "reconnect".
  if (!sendable(code)) return { code: CloseCode.goingAway, reason: clampReason(reason || 'the other side of the relay went away') };
  return { code, reason: clampReason(reason) };
}
