/**
 * The client address behind trusted proxies (api/middleware/client-address.ts): X-Forwarded-For
 * walked from the right past trusted hops, never the leftmost entry the client writes, and not
 * read at all unless the socket is a trusted proxy. Security case 67 (tests/security/README.md).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../api/config.js';
import { clientAddressOf, parseTrustedProxies } from '../../api/middleware/client-address.js';
import { UserError } from '../../session-runtime/wire/errors.js';

const front = parseTrustedProxies(['10.0.9.0/24', 'fd00:9::/64']);
const none = parseTrustedProxies([]);

describe('67: the client address from X-Forwarded-For', () => {
  it('an untrusted socket is the address, whatever the header says', () => {
    expect(clientAddressOf('198.51.100.7', '203.0.113.1', front)).toBe('198.51.100.7');
    expect(clientAddressOf('198.51.100.7', '10.0.9.2', front)).toBe('198.51.100.7');
    // No trusted proxies (the default): the socket, as before the setting.
    expect(clientAddressOf('10.0.9.2', '203.0.113.1', none)).toBe('10.0.9.2');
    expect(clientAddressOf(undefined, '203.0.113.1', front)).toBe('unknown');
    // A socket address that is not a strict literal (a zone id) is never trusted.
    expect(clientAddressOf('fd00:9::2%eth0', '203.0.113.1', front)).toBe('fd00:9::2%eth0');
  });

  it('a trusted socket: the rightmost entry that is not trusted; spoofed leftmost entries are ignored', () => {
    expect(clientAddressOf('10.0.9.2', '203.0.113.1', front)).toBe('203.0.113.1');
    expect(clientAddressOf('10.0.9.2', '1.1.1.1, 2.2.2.2, 203.0.113.1', front)).toBe('203.0.113.1');
    // Trusted hops on the right are walked past; the client's own entries on the left are not reached.
    expect(clientAddressOf('10.0.9.2', '1.1.1.1,203.0.113.1, 10.0.9.3,10.0.9.4', front)).toBe('203.0.113.1');
    // Repeated headers arrive comma-joined: the last header's last entry is the nearest hop.
    expect(clientAddressOf('10.0.9.2', '1.1.1.1,203.0.113.1', front)).toBe('203.0.113.1');
    // No header: the proxy itself.
    expect(clientAddressOf('10.0.9.2', undefined, front)).toBe('10.0.9.2');
  });

  it('IPv6 and IPv4-mapped addresses', () => {
    expect(clientAddressOf('fd00:9::1', '2001:db8::1', front)).toBe('2001:db8::1');
    expect(clientAddressOf('fd00:9::1', '2001:DB8:0:0::1, fd00:9::ff', front)).toBe('2001:db8::1');
    // A dual-stack listener sees IPv4 peers as ::ffff:a.b.c.d: still the IPv4 network's.
    expect(clientAddressOf('::ffff:10.0.9.2', '::ffff:203.0.113.9', front)).toBe('203.0.113.9');
    expect(clientAddressOf('::ffff:10.0.9.2', '::ffff:10.0.9.5', front)).toBe('10.0.9.5');
    expect(clientAddressOf('::1', '203.0.113.1', parseTrustedProxies(['::1']))).toBe('203.0.113.1');
    expect(clientAddressOf('10.0.9.2', '203.0.113.1', parseTrustedProxies(['::ffff:10.0.9.0/120']))).toBe('203.0.113.1');
  });

  it('CIDR edges', () => {
    const exact = (socket: string) => clientAddressOf(socket, '203.0.113.1', front);
    expect(exact('10.0.9.0')).toBe('203.0.113.1');
    expect(exact('10.0.9.255')).toBe('203.0.113.1');
    expect(exact('10.0.8.255')).toBe('10.0.8.255');
    expect(exact('10.0.10.0')).toBe('10.0.10.0');
    expect(exact('fd00:9::ffff:ffff:ffff:ffff')).toBe('203.0.113.1');
    expect(exact('fd00:9:0:1::')).toBe('fd00:9:0:1::');
    // Prefixes that do not end on a byte.
    const odd = parseTrustedProxies(['172.16.0.0/12', '2001:db8:8000::/33', '192.0.2.7/32']);
    expect(clientAddressOf('172.31.255.255', '203.0.113.1', odd)).toBe('203.0.113.1');
    expect(clientAddressOf('172.32.0.0', '203.0.113.1', odd)).toBe('172.32.0.0');
    expect(clientAddressOf('172.15.255.255', '203.0.113.1', odd)).toBe('172.15.255.255');
    expect(clientAddressOf('2001:db8:ffff::1', '203.0.113.1', odd)).toBe('203.0.113.1');
    expect(clientAddressOf('2001:db8:7fff::1', '203.0.113.1', odd)).toBe('2001:db8:7fff::1');
    expect(clientAddressOf('192.0.2.7', '203.0.113.1', odd)).toBe('203.0.113.1');
    expect(clientAddressOf('192.0.2.8', '203.0.113.1', odd)).toBe('192.0.2.8');
    // Families never match each other (an IPv4 network does not take ::a00:902).
    expect(clientAddressOf('::a00:902', '203.0.113.1', front)).toBe('::a00:902');
  });

  it('garbage stops the walk at the last trusted hop, never at a value the client chose', () => {
    const garbage = ['', ' ', 'unknown', '203.0.113.1:443', '[2001:db8::1]', '2001:db8::1%eth0', '010.0.0.1', '0x7f.0.0.1', '203.0.113.1 203.0.113.2', 'a'.repeat(5000)];
    for (const entry of garbage) {
      expect(clientAddressOf('10.0.9.2', entry, front), JSON.stringify(entry.slice(0, 40))).toBe('10.0.9.2');
      expect(clientAddressOf('10.0.9.2', `203.0.113.66, ${entry}, 10.0.9.7`, front)).toBe('10.0.9.7');
    }
    expect(clientAddressOf('10.0.9.2', '203.0.113.1,', front)).toBe('10.0.9.2');
    // Every entry trusted: the furthest trusted hop (a proxy's address, not the client's choice).
    expect(clientAddressOf('10.0.9.2', '10.0.9.3, 10.0.9.4', front)).toBe('10.0.9.3');
  });

  it('the setting: CATTY_TRUSTED_PROXIES or trustedProxies, each entry checked at start', () => {
    expect(loadConfig({}, {}).trustedProxies).toEqual([]);
    expect(loadConfig({}, { CATTY_TRUSTED_PROXIES: ' 10.0.9.0/24 ,fd00:9::/64,' }).trustedProxies).toEqual(['10.0.9.0/24', 'fd00:9::/64']);
    const dir = mkdtempSync(join(tmpdir(), 'catty-proxies-'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ trustedProxies: ['127.0.0.1', '::1'] }));
    expect(loadConfig({}, { CATTY_CONFIG: join(dir, 'config.json') }).trustedProxies).toEqual(['127.0.0.1', '::1']);
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ trustedProxies: ['front'] }));
    expect(() => loadConfig({}, { CATTY_CONFIG: join(dir, 'config.json') })).toThrow(/trustedProxies.*"front" is not an IP address/);
    rmSync(dir, { recursive: true });
    const refused = (value: string) => () => loadConfig({}, { CATTY_TRUSTED_PROXIES: value });
    expect(refused('10.0.9.0/33')).toThrow(UserError);
    expect(refused('10.0.9.0/33')).toThrow(/CATTY_TRUSTED_PROXIES.*"10\.0\.9\.0\/33" is not an IP address or a CIDR/);
    expect(refused('caddy')).toThrow(/not an IP address/);
    expect(refused('10.0.9.0/024')).toThrow(/not an IP address/);
    expect(refused('10.0.9.0/24/1')).toThrow(/not an IP address/);
    expect(refused('fd00::/129')).toThrow(/not an IP address/);
    expect(refused('10.0.9.1/24')).toThrow(/host bits set \(the network is 10\.0\.9\.0\/24\)/);
    expect(refused('0.0.0.0/0')).toThrow(/trusts every address/);
    expect(refused('::/0')).toThrow(/trusts every address/);
  });
});
