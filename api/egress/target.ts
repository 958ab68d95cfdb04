/**
 * What a client asks the proxy for: a CONNECT authority (`host:port`, IPv6 in brackets) or an
 * absolute-form URI (`http://host[:port]/path`). Only the shape is checked here; the host is
 * normalised and judged by the policy (session-runtime/wire/network-policy.ts). A problem is
 * our own phrase, never the client's text, so an answer cannot echo hostile bytes.
 */

export interface ConnectTarget {
  host: string;
  port: number;
}

export interface HttpTarget extends ConnectTarget {
  /** Origin-form for the upstream: path and query, `/` when the URI had none. */
  path: string;
}

const MAX_TARGET_CHARS = 8 * 1024;

/** `host:port` of a CONNECT (the port is required: there is no scheme to default it). */
export function parseConnectTarget(authority: string): ConnectTarget | { problem: string } {
  if (authority.length > 300) return { problem: 'the CONNECT target is too long' };
  return splitAuthority(authority, null);
}

/** `http://host[:port]/path?query` as a proxy receives it. `https://` belongs to CONNECT. */
export function parseHttpTarget(uri: string): HttpTarget | { problem: string } {
  if (uri.length > MAX_TARGET_CHARS) return { problem: 'the request target is too long' };
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//.exec(uri);
  if (!scheme) return { problem: 'a proxy request needs an absolute http:// URI (https goes through CONNECT)' };
  if (scheme[1]!.toLowerCase() !== 'http') return { problem: 'only http:// is forwarded as a plain request; use CONNECT for https' };
  const rest = uri.slice(scheme[0].length);
  const end = rest.search(/[/?#]/);
  const authority = end < 0 ? rest : rest.slice(0, end);
  if (authority.includes('@')) return { problem: 'a URI with user information is not forwarded' };
  const target = splitAuthority(authority, 80);
  if ('problem' in target) return target;
  let path = end < 0 ? '/' : rest.slice(end).replace(/#.*$/s, '');
  if (!path.startsWith('/')) path = `/${path}`;
  return { ...target, path };
}

function splitAuthority(authority: string, defaultPort: number | null): ConnectTarget | { problem: string } {
  let host: string;
  let portText: string | undefined;
  if (authority.startsWith('[')) {
    const close = authority.indexOf(']');
    if (close < 0) return { problem: 'an IPv6 address without its closing bracket' };
    host = authority.slice(0, close + 1);
    const rest = authority.slice(close + 1);
    if (rest !== '' && !rest.startsWith(':')) return { problem: 'unexpected characters after the IPv6 address' };
    if (rest !== '') portText = rest.slice(1);
  } else {
    const colon = authority.lastIndexOf(':');
    host = colon < 0 ? authority : authority.slice(0, colon);
    if (colon >= 0) portText = authority.slice(colon + 1);
    if (host.includes(':')) return { problem: 'an IPv6 address must be in brackets' };
  }
  if (host === '') return { problem: 'no host' };
  if (portText === undefined || portText === '') {
    if (defaultPort === null) return { problem: 'CONNECT needs host:port' };
    return { host, port: defaultPort };
  }
  if (!/^[0-9]{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) return { problem: 'the port is not a number from 1 to 65535' };
  return { host, port: Number(portText) };
}
