/**
 * `--allow HOST[:PORT][,…]`: what the user adds to a session's network preset. An entry is a
 * host name, `*.suffix` (every name under the suffix, not the suffix itself) or an IP literal
 * (IPv6 in brackets when a port follows); without a port it means 80 and 443. Entries are
 * normalised (./host-name.ts), so the policy holds one spelling per destination, and a bad entry
 * is a usage error that names it. A leaf of the seam.
 */
import { EXIT_USAGE, UserError } from './errors.js';
import { normaliseHost } from './host-name.js';
import { classifyIp } from './ip-address.js';

/** One destination the user allowed: a name, `*.suffix` or a canonical IP, on these ports. */
export interface AllowRule {
  host: string;
  ports: number[];
}

/** What an entry without a port allows. */
export const DEFAULT_PORTS: readonly number[] = [80, 443];
export const MAX_ALLOW_RULES = 256;
export const MAX_PORTS_PER_RULE = 64;

const ALLOW_HINT = 'Give HOST[:PORT], *.SUFFIX or an IP, comma-separated: --allow api.example.com,*.corp.example:8443,[::1]:8080';

/**
 * Parses the values of every `--allow` (each may hold several comma-separated entries) into
 * rules, one per host with its ports merged. Throws a usage error naming the first bad entry.
 */
export function parseAllowList(values: readonly string[]): AllowRule[] {
  const byHost = new Map<string, Set<number>>();
  for (const value of values) {
    for (const raw of value.split(',')) {
      const entry = raw.trim();
      const parsed = parseAllowEntry(entry);
      if ('problem' in parsed) {
        throw new UserError(`--allow: "${entry}" is not a host to allow: ${parsed.problem}`, { exitCode: EXIT_USAGE, hint: ALLOW_HINT });
      }
      const ports = byHost.get(parsed.host) ?? new Set<number>();
      for (const port of parsed.ports) ports.add(port);
      byHost.set(parsed.host, ports);
    }
  }
  if (byHost.size > MAX_ALLOW_RULES) {
    throw new UserError(`--allow: ${byHost.size} hosts is more than the ${MAX_ALLOW_RULES} a session takes`, { exitCode: EXIT_USAGE });
  }
  return [...byHost].map(([host, ports]) => {
    if (ports.size > MAX_PORTS_PER_RULE) {
      throw new UserError(`--allow: ${ports.size} ports for ${host} is more than ${MAX_PORTS_PER_RULE}`, { exitCode: EXIT_USAGE, hint: 'Use --net full to reach any port of a public host.' });
    }
    return { host, ports: [...ports].sort((a, b) => a - b) };
  });
}

/** One entry (already split on commas and trimmed), or why it is not one. */
export function parseAllowEntry(entry: string): AllowRule | { problem: string } {
  if (entry === '') return { problem: 'the entry is empty (two commas in a row, or one at the end?)' };
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(entry) || entry.includes('/') || entry.includes('@')) {
    return { problem: 'give the host, not a URL' };
  }
  const split = splitPort(entry);
  if ('problem' in split) return split;
  const host = allowHost(split.host);
  if (typeof host !== 'string') return host;
  return { host, ports: split.port === undefined ? [...DEFAULT_PORTS] : [split.port] };
}

/** The canonical form of a rule's host (`*.suffix`, a name, an IP), or why it is not one. */
export function allowHost(raw: string): string | { problem: string } {
  if (raw === '*' || raw === '*.') return { problem: 'to allow every public host, use --net full' };
  if (raw.startsWith('*.')) {
    const suffix = normaliseHost(raw.slice(2));
    if ('problem' in suffix) return { problem: `the suffix is not a host name: ${suffix.problem}` };
    if (suffix.kind !== 'name') return { problem: 'a wildcard takes a name suffix, not an address' };
    return `*.${suffix.host}`;
  }
  if (raw.includes('*')) return { problem: 'a wildcard is allowed only as a leading "*."' };
  const host = normaliseHost(raw);
  if ('problem' in host) return { problem: `the host ${host.problem === 'empty' ? 'is empty' : `is malformed: ${host.problem}`}` };
  if (host.kind === 'ip' && host.shorthand) return { problem: `write the address in full (${host.host})` };
  if (host.kind === 'ip' && classifyIp(host.host) === 'unspecified') {
    return { problem: 'an unspecified address is not a destination (it means this machine; name 127.0.0.1 or ::1)' };
  }
  return host.host;
}

function splitPort(entry: string): { host: string; port?: number } | { problem: string } {
  let host = entry;
  let portText: string | undefined;
  if (entry.startsWith('[')) {
    const close = entry.indexOf(']');
    if (close < 0) return { problem: 'an opening "[" without its "]"' };
    host = entry.slice(0, close + 1);
    const rest = entry.slice(close + 1);
    if (rest !== '') {
      if (!rest.startsWith(':')) return { problem: `unexpected "${rest}" after the address` };
      portText = rest.slice(1);
    }
  } else if (entry.split(':').length === 2) {
    // One colon: HOST:PORT. More than one is a bare IPv6 address, which takes no port.
    [host, portText] = entry.split(':') as [string, string];
  }
  if (portText === undefined) return { host };
  if (!/^[0-9]{1,5}$/.test(portText)) return { problem: `"${portText}" is not a port number` };
  const port = Number(portText);
  if (port < 1 || port > 65535) return { problem: `port ${port} is out of range (1–65535)` };
  return { host, port };
}
