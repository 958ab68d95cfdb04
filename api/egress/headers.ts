/**
 * Headers across the proxy (RFC 9110 §7.6.1): hop-by-hop ones end here, both ways, with every
 * header the Connection header names; `Proxy-Authorization` never goes upstream; `Host` is
 * always the proxy's own — the target it connects to — never the client's (SECURITY.md 43: a
 * Host that differs from the target could steer a request, and later a secret, elsewhere).
 */
import type http from 'node:http';

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  // Node answers a client's 100-continue itself; the upstream gets the body without waiting.
  'expect',
  'host',
]);

/** Names listed in Connection (`Connection: close, X-Secret` makes X-Secret hop-by-hop). */
function connectionTokens(headers: Record<string, string[] | undefined>): Set<string> {
  const listed = headers['connection'] ?? [];
  return new Set(listed.flatMap((value) => value.split(',').map((t) => t.trim().toLowerCase())).filter(Boolean));
}

/** The end-to-end headers of `headers` (node's `headersDistinct`, names lowercase). */
export function endToEnd(headers: Record<string, string[] | undefined>): http.OutgoingHttpHeaders {
  const drop = connectionTokens(headers);
  const out: http.OutgoingHttpHeaders = {};
  for (const [name, values] of Object.entries(headers)) {
    if (!values || HOP_BY_HOP.has(name) || drop.has(name)) continue;
    out[name] = values.length === 1 ? values[0] : values;
  }
  return out;
}

/** The Host header for a request to `host:port` over http (`tls` false) or https. */
export function hostHeader(host: string, port: number, tls: boolean): string {
  const bracketed = host.includes(':') ? `[${host}]` : host;
  return port === (tls ? 443 : 80) ? bracketed : `${bracketed}:${port}`;
}
