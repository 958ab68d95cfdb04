/**
 * The head of an upstream's HTTP/1.1 answer to a plain request (plain-exchange.ts), parsed here
 * so that its body can be read raw (read-relay.ts) rather than through node's client. Strict on
 * purpose — what llhttp refuses in its strict mode is refused (the client gets a 502), and more:
 * CRLF line ends only, no folded lines, header names tokens, values without control characters,
 * one Content-Length value, never both it and Transfer-Encoding. Those rules are what keep the
 * body's end unambiguous: the answer is passed on to a client whose connection to the proxy
 * may carry its next request, so where this answer ends must be where the client thinks it does.
 */

export interface ResponseHead {
  status: number;
  reason: string;
  /** Names lowercase, values in order (node's `headersDistinct` shape, for headers.ts). */
  headers: Record<string, string[]>;
  /** How the body ends: after `length` bytes, after a zero-size chunk, or when the upstream closes. */
  framing: { kind: 'length'; length: number } | { kind: 'chunked' } | { kind: 'close' };
}

export type HeadResult = { head: ResponseHead; bytes: number } | { problem: string } | null;

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// Field values: visible characters, spaces, tabs and obs-text; no CR, LF, NUL or other controls.
// eslint-disable-next-line no-control-regex
const BAD_VALUE = /[\x00-\x08\x0a-\x1f\x7f]/;
// eslint-disable-next-line no-control-regex
const STATUS_LINE = /^HTTP\/1\.[01] ([1-9]\d\d)(?: ([^\x00-\x08\x0a-\x1f\x7f]*))?$/;

/**
 * The head at the start of `data` if it is all there (`bytes`: its length, blank line
 * included); null while more is needed; a problem once it cannot be one, or is past `maxBytes`.
 */
export function parseResponseHead(data: Buffer, maxBytes: number, requestMethod: string): HeadResult {
  const end = data.indexOf('\r\n\r\n');
  if (end < 0) return data.length > maxBytes ? { problem: 'answered with headers that are too large' } : null;
  if (end + 4 > maxBytes) return { problem: 'answered with headers that are too large' };
  const lines = data.subarray(0, end).toString('latin1').split('\r\n');
  const status = STATUS_LINE.exec(lines[0]!);
  if (!status) return { problem: 'answered with something that is not HTTP/1.1' };
  const headers: Record<string, string[]> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon);
    const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '');
    if (colon <= 0 || !TOKEN.test(name) || BAD_VALUE.test(value)) return { problem: 'answered with a malformed header' };
    (headers[name.toLowerCase()] ??= []).push(value);
  }
  const code = Number(status[1]);
  const framing = bodyFraming(code, requestMethod, headers);
  if ('problem' in framing) return framing;
  return { head: { status: code, reason: status[2] ?? '', headers, framing }, bytes: end + 4 };
}

/** RFC 9112 §6.3, for an answer we asked to close its connection. */
function bodyFraming(status: number, method: string, headers: Record<string, string[]>): ResponseHead['framing'] | { problem: string } {
  const te = headers['transfer-encoding'];
  const cl = headers['content-length'];
  if (te && cl) return { problem: 'answered with both Transfer-Encoding and Content-Length' };
  if (method === 'HEAD' || status === 204 || status === 304 || status < 200) return { kind: 'length', length: 0 };
  if (te) {
    const codings = te.join(',').split(',').map((c) => c.trim().toLowerCase());
    // Chunked must be last and only once; a body not chunked last ends when the connection does.
    if (codings.filter((c) => c === 'chunked').length > 1 || (codings.includes('chunked') && codings.at(-1) !== 'chunked')) {
      return { problem: 'answered with a malformed Transfer-Encoding' };
    }
    return codings.at(-1) === 'chunked' ? { kind: 'chunked' } : { kind: 'close' };
  }
  if (cl) {
    const values = new Set(cl.join(',').split(',').map((v) => v.trim()));
    const [only] = values;
    if (values.size !== 1 || !/^\d{1,15}$/.test(only!)) return { problem: 'answered with a malformed Content-Length' };
    return { kind: 'length', length: Number(only) };
  }
  return { kind: 'close' };
}
