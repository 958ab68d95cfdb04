// The network policy of the seam (session-runtime/wire/network-policy.ts and its leaves): the
// --allow grammar, one spelling per destination, and the decision the egress proxy takes —
// hostile spellings of loopback and private addresses included (SECURITY.md 40, 41).
import { describe, expect, it } from 'vitest';
import { UserError } from '../../session-runtime/wire/errors.js';
import { normaliseHost } from '../../session-runtime/wire/host-name.js';
import { canonicalIp, classifyIp } from '../../session-runtime/wire/ip-address.js';
import { parseAllowEntry, parseAllowList } from '../../session-runtime/wire/network-allow.js';
import {
  checkEgressTarget,
  decideEgress,
  NetworkPolicy,
  parseNetworkPreset,
  refusalBody,
  type EgressDecision,
} from '../../session-runtime/wire/network-policy.js';
import { TRUSTED_HOSTS } from '../../session-runtime/wire/network-presets.js';

const policy = (preset: NetworkPolicy['preset'], ...allow: string[]): NetworkPolicy => ({ preset, allow: parseAllowList(allow) });
const PUBLIC = ['93.184.215.14'];

describe('IP literals', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['169.254.169.254', 'link-local'],
    ['100.64.0.1', 'cgnat'],
    ['100.127.255.255', 'cgnat'],
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'unspecified'],
    ['224.0.0.1', 'multicast'],
    ['255.255.255.255', 'reserved'],
    ['192.0.2.1', 'reserved'],
    ['198.18.0.1', 'reserved'],
    ['::', 'unspecified'],
    ['::1', 'loopback'],
    ['0:0:0:0:0:0:0:1', 'loopback'],
    ['fe80::1', 'link-local'],
    ['febf::1', 'link-local'],
    ['fc00::1', 'unique-local'],
    ['fd12:3456::1', 'unique-local'],
    ['fec0::1', 'private'],
    ['ff02::1', 'multicast'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::FFFF:10.0.0.1', 'private'],
    ['::ffff:169.254.169.254', 'link-local'],
    ['64:ff9b::127.0.0.1', 'loopback'],
    ['64:ff9b::a9fe:a9fe', 'link-local'],
    ['2002:7f00:1::', 'loopback'],
    ['2002:c0a8:101::1', 'private'],
    ['::127.0.0.1', 'reserved'],
    ['2001:db8::1', 'reserved'],
    ['2001::1', 'reserved'],
    ['4000::1', 'reserved'],
    ['not-an-ip', 'reserved'],
  ])('%s is %s', (address, kind) => {
    expect(classifyIp(address)).toBe(kind);
  });

  it.each(['8.8.8.8', '1.1.1.1', '172.32.0.1', '100.128.0.1', '2606:4700::1111', '::ffff:8.8.8.8', '64:ff9b::808:808', '2002:808:808::1'])('%s is public', (address) => {
    expect(classifyIp(address)).toBe('public');
  });

  it('spells each address one way', () => {
    expect(canonicalIp('0:0::1')).toBe('::1');
    expect(canonicalIp('2001:DB8:0:0:1:0:0:1')).toBe('2001:db8::1:0:0:1');
    expect(canonicalIp('::ffff:7f00:1')).toBe('::ffff:127.0.0.1');
    expect(canonicalIp('1:0:0:0:0:0:0:0')).toBe('1::');
  });

  it.each(['010.0.0.1', '1.2.3', '1.2.3.4.5', '256.0.0.1', '1::2::3', ':1', '1:', '1:2:3:4:5:6:7:8:9', '::1%lo', '::ffff:1.2.3', '1:2:3:4:5:6:7:1.2.3.4', ' 1.2.3.4', 'g::1'])('refuses the literal %j', (text) => {
    expect(canonicalIp(text)).toBeNull();
  });
});

describe('host names', () => {
  it.each([
    ['EXAMPLE.com', 'example.com'],
    ['example.com.', 'example.com'],
    ['BÜCHER.de', 'xn--bcher-kva.de'],
    ['ＥＸＡＭＰＬＥ。com', 'example.com'],
    ['exam\u00adple.com', 'example.com'],
    ['[::1]', '::1'],
    ['[0:0::1]', '::1'],
    ['2130706433', '127.0.0.1'],
    ['0x7f.1', '127.0.0.1'],
    ['0177.0.0.1', '127.0.0.1'],
    ['１２７.0.0.1', '127.0.0.1'],
  ])('%j is %s', (raw, host) => {
    const result = normaliseHost(raw);
    expect('problem' in result ? result.problem : result.host).toBe(host);
  });

  it.each(['', 'a..b', '-a.com', 'a-.com', 'exa mple.com', 'a/b', 'ex%41mple.com', 'evil.com\u0000.good.com', 'a\tb', 'xn--zz.com', '1.2.3.4.5', 'a.123', 'evil.com／x', 'evil.com＠good', '[fe80::1%eth0]', '[1.2.3.4]', '[::1]x', 'x'.repeat(300), `${'a'.repeat(64)}.com`])('refuses %j', (raw) => {
    expect(normaliseHost(raw)).toHaveProperty('problem');
  });
});

describe('--allow', () => {
  it('parses hosts, suffixes and addresses, with 80 and 443 by default', () => {
    expect(parseAllowList(['Api.Example.com,*.corp.example:8443', ' 10.0.0.5 ', '[::1]:8080', 'fd00::1', 'localhost:3000'])).toEqual([
      { host: 'api.example.com', ports: [80, 443] },
      { host: '*.corp.example', ports: [8443] },
      { host: '10.0.0.5', ports: [80, 443] },
      { host: '::1', ports: [8080] },
      { host: 'fd00::1', ports: [80, 443] },
      { host: 'localhost', ports: [3000] },
    ]);
  });

  it('merges the ports of one host however it is spelled', () => {
    expect(parseAllowList(['example.com:8080', 'EXAMPLE.COM.', 'bücher.de', 'xn--bcher-kva.de:81'])).toEqual([
      { host: 'example.com', ports: [80, 443, 8080] },
      { host: 'xn--bcher-kva.de', ports: [80, 81, 443] },
    ]);
  });

  it.each([
    ['https://example.com', 'not a URL'],
    ['example.com/path', 'not a URL'],
    ['user@example.com', 'not a URL'],
    ['a.com,,b.com', 'empty'],
    ['a.com,', 'empty'],
    ['example.com:0', 'out of range'],
    ['example.com:65536', 'out of range'],
    ['example.com:99999', 'out of range'],
    ['example.com:', 'not a port'],
    ['example.com:http', 'not a port'],
    ['example.com:+80', 'not a port'],
    ['example.com:123456', 'not a port'],
    ['[::1', 'without its'],
    ['[::1]8080', 'after the address'],
    ['[::1]:0', 'out of range'],
    ['*', '--net full'],
    ['*.', '--net full'],
    ['a.*.com', 'leading'],
    ['*example.com', 'leading'],
    ['*.10.0.0.1', 'not an address'],
    ['*.a..b', 'suffix'],
    ['exa mple.com', 'malformed'],
    ['127.1', 'in full (127.0.0.1)'],
    ['2130706433', 'in full'],
    ['0.0.0.0', 'unspecified'],
    ['[::]', 'unspecified'],
    ['fe80::1%eth0', 'zone'],
    ['ex;ample.com', 'malformed'],
  ])('refuses %j (%s), naming the entry', (value, why) => {
    let error: unknown;
    try {
      parseAllowList([value]);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(UserError);
    expect((error as UserError).exitCode).toBe(2);
    expect((error as UserError).message).toContain(why);
    const entry = value.split(',').find((e) => 'problem' in parseAllowEntry(e.trim()))!.trim();
    expect((error as UserError).message).toContain(`"${entry}"`);
  });

  it('bounds the number of hosts', () => {
    const many = Array.from({ length: 300 }, (_, i) => `h${i}.example`).join(',');
    expect(() => parseAllowList([many])).toThrow(/more than the 256/);
  });

  it('--net takes the three presets only', () => {
    expect(parseNetworkPreset('none')).toBe('none');
    expect(() => parseNetworkPreset('open')).toThrow(UserError);
    expect(() => parseNetworkPreset('TRUSTED')).toThrow(/not a network preset/);
  });
});

describe('the policy as it travels', () => {
  it('accepts what the parser makes', () => {
    const p = policy('trusted', 'example.com:8080,*.corp.example,[::1]:3000');
    expect(NetworkPolicy.parse(JSON.parse(JSON.stringify(p)))).toEqual(p);
  });

  it.each([
    { preset: 'open', allow: [] },
    { preset: 'full', allow: [], extra: 1 },
    { preset: 'full', allow: [{ host: 'EXAMPLE.com', ports: [443] }] },
    { preset: 'full', allow: [{ host: 'example.com', ports: [] }] },
    { preset: 'full', allow: [{ host: 'example.com', ports: [0] }] },
    { preset: 'full', allow: [{ host: 'example.com', ports: [443, 443] }] },
    { preset: 'full', allow: [{ host: '0:0::1', ports: [443] }] },
    { preset: 'full', allow: [{ host: '*', ports: [443] }] },
    { preset: 'full', allow: [{ host: 'a.com', ports: [80] }, { host: 'a.com', ports: [443] }] },
    { preset: 'full', allow: [{ host: 'http://a.com', ports: [80] }] },
    { preset: 'full', allow: [{ host: 'a.com', ports: [80], note: 'x' }] },
  ])('refuses %j', (value) => {
    expect(NetworkPolicy.safeParse(value).success).toBe(false);
  });
});

describe('the decision', () => {
  const allowed = (d: EgressDecision) => d.allow;
  const reason = (d: EgressDecision) => (d.allow ? 'allowed' : d.reason);

  it('trusted: the listed hosts on 80 and 443, public addresses only', () => {
    const p = policy('trusted');
    for (const host of TRUSTED_HOSTS) expect(allowed(decideEgress(p, host, 443, PUBLIC))).toBe(true);
    expect(reason(decideEgress(p, 'API.ANTHROPIC.COM.', 80, PUBLIC))).toBe('allowed');
    expect(reason(decideEgress(p, 'github.com', 22, PUBLIC))).toBe('port-not-allowed');
    expect(reason(decideEgress(p, 'example.com', 443, PUBLIC))).toBe('not-allowed');
    // Look-alikes of trusted names are other names.
    for (const host of ['github.com.evil.example', 'evilgithub.com', 'api.anthropic.com.evil', 'sub.github.com', 'github.co']) {
      expect(reason(decideEgress(p, host, 443, PUBLIC)), host).toBe('not-allowed');
    }
  });

  it('none: nothing, not even a trusted host; --allow still adds its hosts', () => {
    expect(reason(decideEgress(policy('none'), 'api.anthropic.com', 443, PUBLIC))).toBe('net-none');
    expect(reason(decideEgress(policy('none'), '8.8.8.8', 443, []))).toBe('net-none');
    expect(reason(decideEgress(policy('none', 'example.com'), 'example.com', 443, PUBLIC))).toBe('allowed');
    expect(reason(decideEgress(policy('none', 'example.com'), 'api.anthropic.com', 443, PUBLIC))).toBe('net-none');
  });

  it('full: any public host on any port, never a private one', () => {
    const p = policy('full');
    expect(reason(decideEgress(p, 'example.com', 8443, PUBLIC))).toBe('allowed');
    expect(reason(decideEgress(p, '8.8.8.8', 53, []))).toBe('allowed');
    expect(reason(decideEgress(p, '[2606:4700::1111]', 443, []))).toBe('allowed');
    expect(reason(decideEgress(p, 'example.com', 443, ['127.0.0.1']))).toBe('private-address');
  });

  it('a public or trusted name that resolves to a private address is refused (DNS tricks)', () => {
    for (const p of [policy('full'), policy('trusted'), policy('trusted', '*.example.com')]) {
      for (const address of ['127.0.0.1', '::1', '10.0.0.1', '169.254.169.254', '::ffff:127.0.0.1', '0.0.0.0', 'fd00::1', '100.64.1.1', '::ffff:7f00:1', 'garbage']) {
        const host = p.preset === 'full' ? 'evil.example' : p.allow.length ? 'a.example.com' : 'github.com';
        expect(reason(decideEgress(p, host, 443, [address])), `${host} → ${address}`).toBe('private-address');
      }
    }
    // One bad address among good ones is enough (the proxy may connect to any of them).
    expect(reason(decideEgress(policy('full'), 'evil.example', 443, ['8.8.8.8', '127.0.0.1']))).toBe('private-address');
    expect(reason(decideEgress(policy('full'), 'evil.example', 443, []))).toBe('malformed');
  });

  it('private addresses pass when that exact host or IP is named, on that port', () => {
    expect(decideEgress(policy('trusted', 'db.internal'), 'DB.internal.', 443, ['10.0.0.5'])).toMatchObject({ allow: true, named: true, addresses: ['10.0.0.5'] });
    expect(reason(decideEgress(policy('trusted', '127.0.0.1:8443'), '127.0.0.1', 8443, []))).toBe('allowed');
    expect(reason(decideEgress(policy('trusted', '127.0.0.1:8443'), '127.0.0.1', 8444, []))).toBe('port-not-allowed');
    expect(reason(decideEgress(policy('full', '127.0.0.1:8443'), '127.0.0.1', 8444, []))).toBe('private-address');
    expect(reason(decideEgress(policy('trusted', '[::1]:8443'), '0:0::1', 8443, []))).toBe('allowed');
    expect(reason(decideEgress(policy('trusted', 'localhost:3000'), 'LOCALHOST', 3000, ['127.0.0.1', '::1']))).toBe('allowed');
    // Named is exact: another name for the address, a wildcard, another spelling of the IP.
    expect(reason(decideEgress(policy('full', '127.0.0.1'), 'evil.example', 443, ['127.0.0.1']))).toBe('private-address');
    expect(reason(decideEgress(policy('trusted', '*.internal'), 'db.internal', 443, ['10.0.0.5']))).toBe('private-address');
    expect(reason(decideEgress(policy('trusted', '127.0.0.1'), '::ffff:127.0.0.1', 443, []))).toBe('not-allowed');
  });

  it('IP targets: every hostile spelling of loopback and metadata is refused unless named', () => {
    const p = policy('full');
    for (const host of ['127.0.0.1', '127.1', '2130706433', '0x7f.0.0.1', '0177.0.0.1', '[::1]', '[::ffff:127.0.0.1]', '[::ffff:7f00:1]', '0.0.0.0', '0', '[::]', '169.254.169.254', '[fe80::1]', '[64:ff9b::7f00:1]', '[2002:7f00:1::]', '１２７.0.0.1', '10.0.0.1']) {
      expect(reason(decideEgress(p, host, 80, ['8.8.8.8'])), host).toBe('private-address');
    }
  });

  it('wildcards cover names under the suffix, not the suffix itself nor addresses', () => {
    const p = policy('none', '*.example.com');
    expect(reason(decideEgress(p, 'a.b.example.com', 443, PUBLIC))).toBe('allowed');
    expect(reason(decideEgress(p, 'example.com', 443, PUBLIC))).toBe('net-none');
    expect(reason(decideEgress(p, 'badexample.com', 443, PUBLIC))).toBe('net-none');
    expect(reason(decideEgress(p, 'a.example.com', 8080, PUBLIC))).toBe('port-not-allowed');
  });

  it('malformed targets are neither allowed nor logged as refusals', () => {
    for (const [host, port] of [['', 443], ['a b', 443], ['example.com', 0], ['example.com', 70000], ['example.com', 1.5], ['[fe80::1%25lo]', 443]] as const) {
      expect(reason(decideEgress(policy('full'), host, port, PUBLIC)), `${host}:${port}`).toBe('malformed');
    }
  });

  it('the pre-resolution check refuses before any lookup, and knows what is named', () => {
    expect(checkEgressTarget(policy('trusted'), 'exfil.attacker.example', 443)).toMatchObject({ allow: false, reason: 'not-allowed' });
    expect(checkEgressTarget(policy('trusted', 'db.internal'), 'db.internal', 443)).toMatchObject({ allow: true, named: true });
    expect(checkEgressTarget(policy('trusted'), 'github.com', 443)).toMatchObject({ allow: true, named: false });
  });

  it('a refusal names the host and the flag that allows it', () => {
    const cases: [NetworkPolicy, string, number, string[], RegExp][] = [
      [policy('trusted'), 'example.com', 443, PUBLIC, /example\.com:443.*\n.*catty new --allow example\.com .*--net full/],
      [policy('trusted'), 'example.com', 8080, PUBLIC, /catty new --allow example\.com:8080/],
      [policy('trusted'), 'github.com', 22, PUBLIC, /port 22 is not allowed.*\n.*--allow github\.com:22/],
      [policy('none'), 'api.anthropic.com', 443, PUBLIC, /no network \(--net none\).*\n.*--allow api\.anthropic\.com/],
      [policy('full'), 'evil.example', 443, ['127.0.0.1'], /evil\.example resolves to a loopback address.*\n.*--allow evil\.example\n/],
      [policy('full'), '[::1]', 8080, [], /::1 is a loopback address.*\n.*--allow \[::1\]:8080/],
      [policy('full'), '0.0.0.0', 8080, [], /0\.0\.0\.0 is an unspecified address.*\n.*--allow 127\.0\.0\.1:8080/],
      [policy('full'), '[::]', 443, [], /--allow \[::1\]\n/],
    ];
    for (const [p, host, port, addresses, body] of cases) {
      const decision = decideEgress(p, host, port, addresses);
      if (decision.allow || decision.reason === 'malformed') throw new Error(`${host} was not refused`);
      expect(refusalBody(decision)).toMatch(body);
    }
    // What a name resolves to is for the log, not for the sandbox.
    const hidden = decideEgress(policy('full'), 'db.corp.example', 443, ['93.184.215.14', '10.1.2.3']);
    expect(hidden).toMatchObject({ allow: false, reason: 'private-address', address: '10.1.2.3' });
    if (!hidden.allow && hidden.reason !== 'malformed') expect(refusalBody(hidden)).not.toContain('10.1.2.3');
  });
});
