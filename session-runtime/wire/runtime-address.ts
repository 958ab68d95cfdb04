/**
 * Where a runtime listens (`CATTY_LISTEN`, and the address its ready line names) and how a
 * client reaches it: a base URL, plus the Unix socket to connect to when it listens on one
 * (issue 20: a session's own network namespace has no path to the host, so the host reaches the
 * runtime through a socket file in the machine's directory). Over a socket the URL only names
 * the paths and the Host header; HTTP and the WebSocket upgrade are the same as over TCP.
 */

export type ListenAddress = { kind: 'tcp'; host: string; port: number } | { kind: 'unix'; path: string };

/** `CATTY_LISTEN=unix:PATH`; the ready line names the socket the same way. */
export const UNIX_LISTEN_PREFIX = 'unix:';

/** The base URL of a runtime reached through its socket (the host is only the Host header). */
export const SOCKET_BASE_URL = 'http://localhost';

/**
 * Linux's sockaddr_un holds 108 bytes with the terminating NUL: a longer path cannot be bound
 * or connected to (node fails with EINVAL or ENAMETOOLONG).
 */
export const MAX_SOCKET_PATH_BYTES = 107;

/** PEM text: the CA a TLS endpoint's certificate must chain to, and the client's own pair. */
export interface EndpointTls {
  ca: string;
  cert: string;
  key: string;
}

/** A runtime as a client reaches it. */
export interface RuntimeEndpoint {
  /**
   * Base URL: `/upload`, `/connect`, … are appended to it, path included (SOCKET_BASE_URL over a
   * socket; `https://node:7443/v1/machines/<id>/runtime` through a cluster node's proxy). Join
   * with {@link runtimeUrl}: `new URL('/healthz', base)` would drop the base's path.
   */
  url: string;
  /** Absolute path of the Unix socket to connect to; absent: TCP to the URL's host. */
  socketPath?: string;
  /** For an https URL: mutual TLS (a cluster node serves only the API's certificate). */
  tls?: EndpointTls;
}

/** The runtime's `pathAndQuery` (`/connect?cols=80`) under the endpoint's base URL, its path kept. */
export function runtimeUrl(endpoint: Pick<RuntimeEndpoint, 'url'>, pathAndQuery: string): URL {
  const base = new URL(endpoint.url);
  const path = pathAndQuery.startsWith('/') ? pathAndQuery : `/${pathAndQuery}`;
  return new URL(`${base.pathname.replace(/\/+$/, '')}${path}`, base.origin);
}

/** `host:port` (`[v6]:port`; port 0 picks a free one) or `unix:/absolute/path`; null when neither. */
export function parseListenAddress(text: string): ListenAddress | null {
  if (text.startsWith(UNIX_LISTEN_PREFIX)) {
    const path = text.slice(UNIX_LISTEN_PREFIX.length);
    if (!path.startsWith('/') || path.includes('\0') || Buffer.byteLength(path) > MAX_SOCKET_PATH_BYTES) return null;
    return { kind: 'unix', path };
  }
  const match = /^(\[[^\]]+\]|[^:/]+):(\d{1,5})$/.exec(text);
  const port = Number(match?.[2]);
  if (!match || port > 65535) return null;
  return { kind: 'tcp', host: match[1]!.replace(/^\[|\]$/g, ''), port };
}

/** What the ready line names: `http://HOST:PORT` or `unix:PATH`. */
export function formatReadyAddress(address: ListenAddress): string {
  if (address.kind === 'unix') return `${UNIX_LISTEN_PREFIX}${address.path}`;
  return `http://${address.host.includes(':') ? `[${address.host}]` : address.host}:${address.port}`;
}

/** The endpoint a ready line's address names, as seen from where the runtime runs. */
export function endpointOfReadyAddress(text: string): RuntimeEndpoint {
  if (text.startsWith(UNIX_LISTEN_PREFIX)) return { url: SOCKET_BASE_URL, socketPath: text.slice(UNIX_LISTEN_PREFIX.length) };
  return { url: text.replace(/\/+$/, '') };
}
