/**
 * The client's address, for what keys on it (the sign-in throttle). Behind the TLS front every
 * socket is the front's, so with `CATTY_TRUSTED_PROXIES` set the address comes from
 * X-Forwarded-For — walked from the right past trusted proxies to the first address that is not
 * one. Never the leftmost entry: the client writes that. An entry that is not a strict IP literal
 * stops the walk at the last trusted hop (the proxy), never at a value the client chose. With no
 * trusted proxies, or a socket that is not one, the header is not read at all.
 */
import type { IncomingMessage } from 'node:http';
import type { Context } from 'hono';
import { formatIp, parseIp } from '../../session-runtime/wire/ip-address.js';

export interface TrustedProxies {
  /** Whether `address` (a strict IP literal; an IPv4-mapped IPv6 one as its IPv4) is trusted. */
  has(address: Uint8Array): boolean;
}

interface Network {
  bytes: Uint8Array;
  bits: number;
}

/**
 * The networks in `entries` (`10.0.9.0/24`, `fd00::/64`, `127.0.0.1`), or an Error naming the
 * first one that is not an address or a CIDR, has host bits set, or trusts every address.
 */
export function parseTrustedProxies(entries: readonly string[]): TrustedProxies {
  const networks = entries.map(parseNetwork);
  return { has: (address) => networks.some((n) => inNetwork(unmapped(address), n)) };
}

function parseNetwork(entry: string): Network {
  const [ip = '', prefix, extra] = entry.trim().split('/');
  const parsed = parseIp(ip);
  const max = parsed?.length === 4 ? 32 : 128;
  const bits = prefix === undefined ? max : /^(0|[1-9][0-9]{0,2})$/.test(prefix) ? Number(prefix) : NaN;
  if (!parsed || extra !== undefined || !(bits <= max)) throw new Error(`"${entry}" is not an IP address or a CIDR (e.g. 10.0.9.0/24, fd00:9::/64, 127.0.0.1)`);
  // Written as IPv4-mapped (::ffff:10.0.0.0/104): the IPv4 network it is.
  const mapped = parsed.length === 16 && isMapped(parsed) && bits >= 96;
  const network = mapped ? { bytes: parsed.subarray(12), bits: bits - 96 } : { bytes: parsed, bits };
  if (network.bits === 0) throw new Error(`"${entry}" trusts every address: any client could name its own address`);
  if (!masked(network).every((b, i) => b === network.bytes[i])) throw new Error(`"${entry}" has host bits set (the network is ${formatIp(masked(network))}/${network.bits})`);
  return network;
}

/** Whether `address` lies in `network` (different families never match). */
function inNetwork(address: Uint8Array, network: Network): boolean {
  if (address.length !== network.bytes.length) return false;
  const want = masked(network);
  return masked({ bytes: address, bits: network.bits }).every((b, i) => b === want[i]);
}

function masked({ bytes, bits }: Network): Uint8Array {
  return bytes.map((b, i) => (bits >= 8 * (i + 1) ? b : bits <= 8 * i ? 0 : b & (0xff << (8 - (bits - 8 * i)))));
}

const isMapped = (bytes: Uint8Array) => bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
const unmapped = (bytes: Uint8Array) => (bytes.length === 16 && isMapped(bytes) ? bytes.subarray(12) : bytes);

/**
 * The client's address given the socket's and the X-Forwarded-For header(s) (comma-joined, as
 * node joins repeated ones). Untrusted socket: the socket's address, header ignored. Trusted: the
 * rightmost entry that is not trusted; a malformed entry gives the last trusted hop instead, and
 * entries that are all trusted give the furthest of them (a trusted proxy's address either way).
 */
export function clientAddressOf(socketAddress: string | undefined, forwardedFor: string | undefined, trusted: TrustedProxies): string {
  const socket = socketAddress === undefined ? null : parseIp(socketAddress);
  if (!socket || !trusted.has(socket)) return socketAddress ?? 'unknown';
  let hop = formatIp(unmapped(socket));
  if (forwardedFor === undefined) return hop;
  const entries = forwardedFor.split(',');
  for (let i = entries.length - 1; i >= 0; i--) {
    const entry = parseIp(entries[i]!.trim());
    if (!entry) return hop;
    if (!trusted.has(entry)) return formatIp(unmapped(entry));
    hop = formatIp(unmapped(entry));
  }
  return hop;
}

/** The request's client address (node's socket, and X-Forwarded-For when that is a trusted proxy). */
export function clientAddress(c: Context, trusted: TrustedProxies): string {
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  const header = incoming?.headers['x-forwarded-for'];
  return clientAddressOf(incoming?.socket.remoteAddress, Array.isArray(header) ? header.join(',') : header, trusted);
}
