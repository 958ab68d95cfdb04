/**
 * One spelling per destination: a host name as the user writes it in `--allow` and as a client
 * sends it to the egress proxy (a CONNECT target, an absolute URI) becomes the same string, so a
 * policy never allows one spelling and refuses another (uppercase, IDN, a trailing dot, full-width
 * digits, IPv6 spelled two ways). A leaf of the seam.
 *
 * The WHATWG host parser (`url.domainToASCII`) does the IDN mapping (UTS 46), but it also
 * truncates at `/`, percent-decodes, and turns `127.1`, `0x7f.0.0.1` or `2130706433` into
 * `127.0.0.1` — the way a resolver would read them. So the characters a host cannot contain are
 * refused before it runs, and a name that comes out as an IPv4 address is that address.
 */
import { domainToASCII } from 'node:url';
import { canonicalIp, parseIpv4 } from './ip-address.js';

export type Host =
  | { kind: 'name'; host: string }
  | { kind: 'ip'; host: string };

/** Either the host, or why `raw` is not one (a phrase: "… is not a host name: <problem>"). */
export type HostResult = Host & { shorthand: boolean } | { problem: string };

export const MAX_HOST_CHARS = 253;

// Anything that would make a name more than a name: a path, a port, userinfo, a query, an
// escape, whitespace or a control character. `:` and brackets are IPv6's, checked on their own.
// eslint-disable-next-line no-control-regex
const NOT_IN_A_NAME = /[\u0000-\u0020\u007f/\\?#@%:[\]<>^|"'`{}*,;=+!$&()~]/;

/**
 * Normalises a host: IPv6 literals (bracketed or not) to their canonical form, names to
 * lowercase ASCII (punycode) without a trailing dot, IPv4 to a dotted quad. `shorthand` says
 * that a name spelled an IPv4 address in a form other than the dotted quad it became.
 */
export function normaliseHost(raw: string): HostResult {
  if (raw.length === 0) return { problem: 'empty' };
  if (raw.length > MAX_HOST_CHARS + 2) return { problem: 'too long' };
  const bracketed = raw.startsWith('[') && raw.endsWith(']');
  if (bracketed || raw.includes(':')) {
    const inner = bracketed ? raw.slice(1, -1) : raw;
    const ip = inner.includes('.') || inner.includes(':') ? canonicalIp(inner) : null;
    if (!ip || !ip.includes(':')) return { problem: inner.includes('%') ? 'an IPv6 zone is not allowed' : 'not a valid IPv6 address' };
    return { kind: 'ip', host: ip, shorthand: false };
  }
  if (NOT_IN_A_NAME.test(raw)) return { problem: 'it contains a character a host name cannot have' };
  const ascii = domainToASCII(raw).toLowerCase();
  if (ascii === '') return { problem: 'not a valid host name' };
  const host = ascii.endsWith('.') ? ascii.slice(0, -1) : ascii;
  if (parseIpv4(host)) {
    const written = raw.toLowerCase().replace(/\.$/, '');
    return { kind: 'ip', host, shorthand: written !== host };
  }
  const problem = nameProblem(host);
  return problem ? { problem } : { kind: 'name', host, shorthand: false };
}

/** Why an ASCII, lowercase, dot-less-at-the-end name is not a DNS host name, or null. */
function nameProblem(host: string): string | null {
  if (host.length > MAX_HOST_CHARS) return 'too long';
  const labels = host.split('.');
  for (const label of labels) {
    if (label.length === 0) return 'it has an empty label';
    if (label.length > 63) return 'a label is longer than 63 characters';
    // Underscores appear in real (if irregular) host names; they cannot hide anything.
    if (!/^[a-z0-9_-]+$/.test(label)) return 'it contains a character a host name cannot have';
    if (label.startsWith('-') || label.endsWith('-')) return 'a label starts or ends with "-"';
  }
  // A numeric last label would have made it an IPv4 address; `1.2.3.4.5` is neither.
  if (/^[0-9]+$/.test(labels[labels.length - 1]!)) return 'it is neither a name nor an IPv4 address';
  return null;
}
