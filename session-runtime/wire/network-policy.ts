/**
 * A session's network policy and the one decision the egress proxy takes with it (SECURITY.md
 * 38–44). Part of the seam: the CLI parses `--net`/`--allow` into a {@link NetworkPolicy}, the API
 * stores it and hands it to the host-side proxy, the proxy asks {@link checkEgressTarget} and
 * {@link decideEgress} for every connection, and `catty logs --net` prints the
 * {@link EgressRefusal}s it recorded.
 *
 * Presets: `none` (nothing), `trusted` (./network-presets.ts, ports 80 and 443), `full` (every
 * public host, any port); `--allow` rules (./network-allow.ts) are added to the preset (to
 * `none` too: `--net none --allow HOST` reaches that host only).
 *
 * Addresses: a destination whose address is not public — loopback, private, link-local (cloud
 * metadata), CGNAT, unique-local, multicast, unspecified, reserved, and the IPv4-mapped, NAT64
 * and 6to4 forms of those (./ip-address.ts) — is refused unless the user named that exact host
 * or IP in `--allow`, on that port. A wildcard or a preset host never counts as named, so a
 * public (or trusted) name that resolves to 127.0.0.1 is refused: the proxy resolves names
 * itself, decides on every address, and connects only to an address it decided on.
 */
import { EXIT_USAGE, UserError } from './errors.js';
import { normaliseHost, type Host, MAX_HOST_CHARS } from './host-name.js';
import { canonicalIp, classifyIp, type AddressKind } from './ip-address.js';
import { allowHost, DEFAULT_PORTS, MAX_ALLOW_RULES, MAX_PORTS_PER_RULE } from './network-allow.js';
import { TRUSTED_HOSTS } from './network-presets.js';
import * as z from './zod.js';

export const NETWORK_PRESETS = ['none', 'trusted', 'full'] as const;
export type NetworkPreset = (typeof NETWORK_PRESETS)[number];
export const DEFAULT_NETWORK_PRESET: NetworkPreset = 'trusted';

const port = z.int().check(z.gte(1), z.lte(65535));

/** A rule as it travels: its host must already be in canonical form (what parseAllowList made). */
export const AllowRuleSchema = z.strictObject({
  host: z.string().check(z.maxLength(MAX_HOST_CHARS + 2), z.refine((h) => allowHost(h) === h, 'not a canonical host, *.suffix or IP')),
  ports: z.array(port).check(
    z.minLength(1),
    z.maxLength(MAX_PORTS_PER_RULE),
    z.refine((ports) => new Set(ports).size === ports.length, 'ports repeat'),
  ),
});

/** A session's policy as the API stores it and hands it to the proxy. */
export const NetworkPolicy = z.strictObject({
  preset: z.enum(NETWORK_PRESETS),
  allow: z.array(AllowRuleSchema).check(
    z.maxLength(MAX_ALLOW_RULES),
    z.refine((rules) => new Set(rules.map((r) => r.host)).size === rules.length, 'a host appears in two rules'),
  ),
});
export type NetworkPolicy = z.infer<typeof NetworkPolicy>;

/** `--net VALUE`, or a usage error that lists the presets. */
export function parseNetworkPreset(value: string): NetworkPreset {
  const preset = NETWORK_PRESETS.find((p) => p === value);
  if (preset) return preset;
  throw new UserError(`--net: "${value}" is not a network preset`, { exitCode: EXIT_USAGE, hint: 'Use --net none, --net trusted (the default) or --net full.' });
}

// ---------------------------------------------------------------------------------------------
// The decision

/** Why the proxy refused: the policy has no rule for the target, or the address is not public. */
export const REFUSAL_REASONS = ['net-none', 'not-allowed', 'port-not-allowed', 'private-address'] as const;
export type RefusalReason = (typeof REFUSAL_REASONS)[number];

export interface Refusal {
  allow: false;
  reason: RefusalReason;
  /** The target's host, normalised. */
  host: string;
  /** For `private-address`: the address refused (for the log only, see decideEgress). */
  address?: string;
  /** One line: what was refused and why (the 403's first line, the log's message). */
  message: string;
  /** One line: the flag that would allow it. */
  hint: string;
}

/** What the pre-resolution check and the malformed case share. */
export type TargetCheck = { allow: true; host: Host; port: number; named: boolean } | Refusal | { allow: false; reason: 'malformed'; message: string };

export type EgressDecision =
  | { allow: true; host: Host; port: number; named: boolean; addresses: string[] }
  | Refusal
  | { allow: false; reason: 'malformed'; message: string };

/**
 * Whether the policy has a rule for `host:port`, before any name is resolved: a name the policy
 * refuses is never looked up (a DNS query is a channel out of the sandbox too).
 */
export function checkEgressTarget(policy: NetworkPolicy, rawHost: string, port: number): TargetCheck {
  const normalised = normaliseHost(rawHost);
  if ('problem' in normalised) return { allow: false, reason: 'malformed', message: `not a host: ${normalised.problem}` };
  if (!Number.isInteger(port) || port < 1 || port > 65535) return { allow: false, reason: 'malformed', message: `port ${port} is out of range` };
  const host: Host = { kind: normalised.kind, host: normalised.host };
  const target = hostPort(host.host, port);
  const userRule = policy.allow.find((rule) => matches(rule.host, host) && rule.ports.includes(port));
  const named = policy.allow.some((rule) => rule.host === host.host && rule.ports.includes(port));
  const trusted = policy.preset === 'trusted' && TRUSTED_HOSTS.includes(host.host);
  if (userRule || policy.preset === 'full' || (trusted && DEFAULT_PORTS.includes(port))) return { allow: true, host, port, named };

  const otherPort = trusted || policy.allow.some((rule) => matches(rule.host, host));
  if (otherPort) {
    return refusal('port-not-allowed', host.host, `${target}: port ${port} is not allowed for ${host.host} by this session's network policy`, `Allow it with: catty new --allow ${target}`);
  }
  if (policy.preset === 'none') {
    return refusal('net-none', host.host, `${target}: this session has no network (--net none)`, `Allow this host with: catty new --net none --allow ${allowSpelling(host, port)} (or use --net trusted)`);
  }
  return refusal(
    'not-allowed',
    host.host,
    `${target}: ${host.host} is not in this session's network policy (--net ${policy.preset})`,
    `Allow it with: catty new --allow ${allowSpelling(host, port)} (or every public host: --net full)`,
  );
}

/**
 * The decision on a connection to `host:port`, given every address the proxy resolved the name
 * to (an IP target is its own address; `addresses` is then ignored). All of them must pass: the
 * proxy may connect to any one of those it returns, and to nothing else.
 */
export function decideEgress(policy: NetworkPolicy, rawHost: string, port: number, addresses: readonly string[]): EgressDecision {
  const check = checkEgressTarget(policy, rawHost, port);
  if (!check.allow) return check;
  const { host, named } = check;
  const candidates = host.kind === 'ip' ? [host.host] : addresses.map((a) => canonicalIp(a) ?? a);
  if (candidates.length === 0) return { allow: false, reason: 'malformed', message: `${host.host} resolved to no address` };
  if (!named) {
    for (const address of candidates) {
      const kind = classifyIp(address);
      if (kind === 'public') continue;
      const target = hostPort(host.host, port);
      // The address of a name stays out of the message (the 403 goes to the sandbox, and under
      // --net full it would tell an agent what any internal name resolves to); the log has it.
      const what = host.kind === 'ip' ? `${address} is ${describe(kind)}` : `${host.host} resolves to ${describe(kind)}`;
      // An unspecified address cannot be named (it is no destination); its loopback can.
      const allowAs: Host = kind === 'unspecified' && host.kind === 'ip' ? { kind: 'ip', host: host.host.includes(':') ? '::1' : '127.0.0.1' } : host;
      return { ...refusal('private-address', host.host, `${target}: ${what}; such addresses are reached only when named`, `Allow it with: catty new --allow ${allowSpelling(allowAs, port)}`), address };
    }
  }
  return { allow: true, host, port, named, addresses: candidates };
}

/** What the proxy answers to a refusal: 403, and this text (it names the host and the flag). */
export function refusalBody(refusal: Refusal): string {
  return `catty: egress refused: ${refusal.message}.\n${refusal.hint}\n`;
}

/** One refused request, as the proxy records it and `catty logs --net` shows it. */
export const EgressRefusal = z.strictObject({
  /** ISO 8601. */
  time: z.string().check(z.maxLength(40)),
  /** `CONNECT` or the HTTP method of a plain request. */
  method: z.string().check(z.maxLength(32)),
  host: z.string().check(z.maxLength(MAX_HOST_CHARS)),
  port,
  reason: z.enum(REFUSAL_REASONS),
  /** For `private-address`: the address the host resolved to (or is). */
  address: z.optional(z.string().check(z.maxLength(45))),
  message: z.string().check(z.maxLength(1024)),
});
export type EgressRefusal = z.infer<typeof EgressRefusal>;

// ---------------------------------------------------------------------------------------------

function matches(ruleHost: string, host: Host): boolean {
  if (ruleHost.startsWith('*.')) return host.kind === 'name' && host.host.endsWith(ruleHost.slice(1));
  return ruleHost === host.host;
}

function refusal(reason: RefusalReason, host: string, message: string, hint: string): Refusal {
  return { allow: false, reason, host, message, hint };
}

/** `host:port`, IPv6 in brackets. */
export function hostPort(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** How to write this target in `--allow`: without the port when it is one of the defaults. */
function allowSpelling(host: Host, port: number): string {
  if (DEFAULT_PORTS.includes(port)) return host.host.includes(':') ? `[${host.host}]` : host.host;
  return hostPort(host.host, port);
}

function describe(kind: AddressKind): string {
  switch (kind) {
    case 'unspecified':
      return 'an unspecified address (this machine)';
    case 'loopback':
      return 'a loopback address';
    case 'private':
      return 'a private address';
    case 'link-local':
      return 'a link-local address';
    case 'cgnat':
      return 'a carrier-grade NAT address';
    case 'unique-local':
      return 'a unique-local address';
    case 'multicast':
      return 'a multicast address';
    case 'reserved':
      return 'a reserved address';
    case 'public':
      return 'a public address';
  }
}

