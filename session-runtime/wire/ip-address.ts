/**
 * IP literals, parsed strictly and classified by where they lead: the egress policy
 * (./network-policy.ts) refuses every address that is not public unless the user named it
 * (SECURITY.md 40). A leaf of the seam: pure functions, nothing of ours imported.
 *
 * Strict on purpose: an IPv4 address is four decimal parts without leading zeros (`010.0.0.1`
 * is octal to inet_aton, decimal to others); an IPv6 address has no zone (`%eth0`). The
 * shorthand forms a resolver would accept (`127.1`, `0x7f.0.0.1`, `2130706433`) are turned
 * into dotted quads by the host normaliser (./host-name.ts) before they get here.
 */

/** Where an address leads. Everything but `public` is refused unless named with `--allow`. */
export type AddressKind =
  | 'public'
  | 'unspecified'
  | 'loopback'
  | 'private'
  | 'link-local'
  | 'cgnat'
  | 'unique-local'
  | 'multicast'
  | 'reserved';

/** 4 bytes (IPv4) or 16 (IPv6), or null when `text` is not a strict literal. */
export function parseIp(text: string): Uint8Array | null {
  return parseIpv4(text) ?? parseIpv6(text);
}

export function parseIpv4(text: string): Uint8Array | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  const bytes = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const part = parts[i]!;
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part) || Number(part) > 255) return null;
    bytes[i] = Number(part);
  }
  return bytes;
}

export function parseIpv6(text: string): Uint8Array | null {
  if (text.length > 45 || !/^[0-9a-fA-F:.]+$/.test(text)) return null;
  let head = text;
  let tail: Uint8Array | null = null;
  // An embedded IPv4 tail (`::ffff:1.2.3.4`) takes the last two groups.
  if (text.includes('.')) {
    const lastColon = text.lastIndexOf(':');
    tail = parseIpv4(text.slice(lastColon + 1));
    if (!tail || lastColon < 1) return null;
    // `::1.2.3.4` keeps its `::`; `::ffff:1.2.3.4` loses the colon before the tail.
    head = text.endsWith('::', lastColon + 1) ? text.slice(0, lastColon + 1) : text.slice(0, lastColon);
  }
  const groupsWanted = tail ? 6 : 8;
  const halves = head.split('::');
  if (halves.length > 2) return null;
  const parseGroups = (part: string): number[] | null => {
    if (part === '') return [];
    const groups = part.split(':');
    if (groups.some((g) => !/^[0-9a-fA-F]{1,4}$/.test(g))) return null;
    return groups.map((g) => parseInt(g, 16));
  };
  const left = parseGroups(halves[0]!);
  const right = halves.length === 2 ? parseGroups(halves[1]!) : [];
  if (!left || !right) return null;
  let groups: number[];
  if (halves.length === 2) {
    const missing = groupsWanted - left.length - right.length;
    if (missing < 1) return null;
    groups = [...left, ...new Array<number>(missing).fill(0), ...right];
  } else {
    groups = left;
  }
  if (groups.length !== groupsWanted) return null;
  const bytes = new Uint8Array(16);
  groups.forEach((g, i) => {
    bytes[2 * i] = g >> 8;
    bytes[2 * i + 1] = g & 0xff;
  });
  if (tail) bytes.set(tail, 12);
  return bytes;
}

/** The one spelling of an address (RFC 5952 for IPv6; IPv4-mapped as `::ffff:a.b.c.d`), so
 * `0:0::1` and `::1` name the same thing in a policy. */
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return bytes.join('.');
  if (startsWith(bytes, MAPPED_PREFIX, 96)) return `::ffff:${bytes.subarray(12).join('.')}`;
  const groups = Array.from({ length: 8 }, (_, i) => (bytes[2 * i]! << 8) | bytes[2 * i + 1]!);
  // The longest run of two or more zero groups (the first of equals) becomes `::`.
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) [bestStart, bestLength] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}

/** The canonical spelling of an IP literal, or null when `text` is not one. */
export function canonicalIp(text: string): string | null {
  const bytes = parseIp(text);
  return bytes ? formatIp(bytes) : null;
}

type Range = readonly [prefix: readonly number[], bits: number, kind: AddressKind];

// IANA's special-purpose registries, the parts that matter for reaching a machine.
const IPV4_RANGES: readonly Range[] = [
  [[0], 8, 'unspecified'], // "this network": connecting to 0.0.0.0 reaches this machine
  [[10], 8, 'private'],
  [[100, 64], 10, 'cgnat'],
  [[127], 8, 'loopback'],
  [[169, 254], 16, 'link-local'], // cloud metadata services live here (169.254.169.254)
  [[172, 16], 12, 'private'],
  [[192, 0, 0], 24, 'reserved'], // IETF protocol assignments
  [[192, 0, 2], 24, 'reserved'], // documentation
  [[192, 88, 99], 24, 'reserved'], // deprecated 6to4 relays
  [[192, 168], 16, 'private'],
  [[198, 18], 15, 'reserved'], // benchmarking
  [[198, 51, 100], 24, 'reserved'], // documentation
  [[203, 0, 113], 24, 'reserved'], // documentation
  [[224], 4, 'multicast'],
  [[240], 4, 'reserved'], // future use, and 255.255.255.255
];

const MAPPED_PREFIX = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];
const NAT64_PREFIX = [0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0];

const IPV6_RANGES: readonly Range[] = [
  [[0x01, 0x00, 0, 0, 0, 0, 0, 0], 64, 'reserved'], // discard-only
  [[0x00, 0x64, 0xff, 0x9b, 0x00, 0x01], 48, 'private'], // local-use NAT64
  [[0x20, 0x01, 0x0d, 0xb8], 32, 'reserved'], // documentation
  [[0x20, 0x01, 0x00, 0x00], 23, 'reserved'], // IETF protocol assignments (Teredo, ORCHID, …)
  [[0x3f, 0xff], 20, 'reserved'], // documentation
  [[0xfc], 7, 'unique-local'],
  [[0xfe, 0x80], 10, 'link-local'],
  [[0xfe, 0xc0], 10, 'private'], // deprecated site-local
  [[0xff], 8, 'multicast'],
];

/** Where `address` (a strict literal) leads; an unparseable one counts as `reserved`. */
export function classifyIp(address: string): AddressKind {
  const bytes = parseIp(address);
  return bytes ? classifyBytes(bytes) : 'reserved';
}

function classifyBytes(bytes: Uint8Array): AddressKind {
  if (bytes.length === 4) return IPV4_RANGES.find(([prefix, bits]) => startsWith(bytes, prefix, bits))?.[2] ?? 'public';
  // Forms that carry an IPv4 address lead where that address leads: IPv4-mapped (a dual-stack
  // socket connects to the IPv4 address), NAT64 (a translator does) and 6to4.
  if (startsWith(bytes, MAPPED_PREFIX, 96) || startsWith(bytes, NAT64_PREFIX, 96)) return classifyBytes(bytes.subarray(12));
  if (startsWith(bytes, [0x20, 0x02], 16)) return classifyBytes(bytes.subarray(2, 6));
  if (bytes.every((b) => b === 0)) return 'unspecified';
  if (bytes.subarray(0, 15).every((b) => b === 0) && bytes[15] === 1) return 'loopback';
  // The rest of ::/96 is the deprecated IPv4-compatible form: routed nowhere sensible.
  if (startsWith(bytes, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 96)) return 'reserved';
  const special = IPV6_RANGES.find(([prefix, bits]) => startsWith(bytes, prefix, bits));
  if (special) return special[2];
  // Only 2000::/3 is allocated as global unicast.
  return (bytes[0]! & 0xe0) === 0x20 ? 'public' : 'reserved';
}

function startsWith(bytes: Uint8Array, prefix: readonly number[], bits: number): boolean {
  for (let bit = 0; bit < bits; bit += 8) {
    const index = bit / 8;
    const mask = bits - bit >= 8 ? 0xff : (0xff << (8 - (bits - bit))) & 0xff;
    if (((bytes[index] ?? 0) & mask) !== ((prefix[index] ?? 0) & mask)) return false;
  }
  return true;
}
