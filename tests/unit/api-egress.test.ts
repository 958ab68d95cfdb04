// The egress proxy's small parts without sockets: request targets, header hygiene, the refusal
// ring, the per-session lookup limit, and the rule for injected headers over plain HTTP.
import { describe, expect, it } from 'vitest';
import { endToEnd, hostHeader } from '../../api/egress/headers.js';
import { plainModelAllowed } from '../../api/egress/injector.js';
import { createRefusalLog } from '../../api/egress/refusal-log.js';
import { limitConcurrency, staticResolver, type Resolver } from '../../api/egress/resolver.js';
import { parseConnectTarget, parseHttpTarget } from '../../api/egress/target.js';
import type { EgressRefusal } from '../../session-runtime/wire/network-policy.js';

describe('request targets', () => {
  it.each([
    ['example.com:443', { host: 'example.com', port: 443 }],
    ['[::1]:8443', { host: '[::1]', port: 8443 }],
    ['127.0.0.1:1', { host: '127.0.0.1', port: 1 }],
  ])('CONNECT %s', (authority, target) => {
    expect(parseConnectTarget(authority)).toEqual(target);
  });

  it.each(['example.com', 'example.com:', ':443', 'example.com:0', 'example.com:65536', 'example.com:44x', '::1:443', '[::1', '[::1]x:443', 'a'.repeat(400) + ':443'])('CONNECT %j is malformed', (authority) => {
    expect(parseConnectTarget(authority)).toHaveProperty('problem');
  });

  it.each([
    ['http://example.com', { host: 'example.com', port: 80, path: '/' }],
    ['HTTP://Example.com:8080/a/b?c=d#frag', { host: 'Example.com', port: 8080, path: '/a/b?c=d' }],
    ['http://example.com?q', { host: 'example.com', port: 80, path: '/?q' }],
    ['http://[::1]:3000/x', { host: '[::1]', port: 3000, path: '/x' }],
    ['http://example.com:/x', { host: 'example.com', port: 80, path: '/x' }],
  ])('absolute URI %s', (uri, target) => {
    expect(parseHttpTarget(uri)).toEqual(target);
  });

  it.each(['/', '*', 'example.com/x', 'https://example.com/', 'ws://example.com/', 'http://user@example.com/', 'http://a:b@example.com/', 'http:///x', 'http://example.com:99999/', `http://example.com/${'a'.repeat(9000)}`])('absolute URI %j is refused', (uri) => {
    expect(parseHttpTarget(uri)).toHaveProperty('problem');
  });
});

describe('headers across the proxy', () => {
  it('drops hop-by-hop headers, those Connection names, Host and proxy credentials', () => {
    const out = endToEnd({
      host: ['a'],
      connection: ['keep-alive, X-Private', 'Upgrade'],
      'x-private': ['1'],
      upgrade: ['websocket'],
      'proxy-authorization': ['Basic x'],
      'proxy-connection': ['keep-alive'],
      'transfer-encoding': ['chunked'],
      te: ['trailers'],
      expect: ['100-continue'],
      'keep-alive': ['timeout=5'],
      'set-cookie': ['a=1', 'b=2'],
      accept: ['*/*'],
    });
    expect(out).toEqual({ 'set-cookie': ['a=1', 'b=2'], accept: '*/*' });
  });

  it('names the target as Host, with the port only when it is not the scheme\'s', () => {
    expect(hostHeader('example.com', 80, false)).toBe('example.com');
    expect(hostHeader('example.com', 443, false)).toBe('example.com:443');
    expect(hostHeader('example.com', 443, true)).toBe('example.com');
    expect(hostHeader('::1', 8080, false)).toBe('[::1]:8080');
  });
});

describe('the refusal log', () => {
  const refusal = (n: number): EgressRefusal => ({ time: new Date(0).toISOString(), method: 'CONNECT', host: `h${n}.example`, port: 443, reason: 'not-allowed', message: `m${n}` });

  it('keeps the last ones in order, counts them all, and survives a throwing listener', () => {
    const handed: string[] = [];
    const log = createRefusalLog(3, (r) => {
      handed.push(r.host);
      throw new Error('disk full');
    });
    for (let n = 1; n <= 7; n++) log.add(refusal(n));
    expect(log.list().map((r) => r.host)).toEqual(['h5.example', 'h6.example', 'h7.example']);
    expect(log.total).toBe(7);
    expect(handed).toHaveLength(7);
  });
});

describe('lookups per session', () => {
  it('runs at most the limit at once and hands slots on in order', async () => {
    let running = 0;
    let peak = 0;
    const releases: (() => void)[] = [];
    const slow: Resolver = {
      lookup: (name) => {
        running++;
        peak = Math.max(peak, running);
        return new Promise((resolve) => releases.push(() => (running--, resolve([name]))));
      },
    };
    const limited = limitConcurrency(slow, 2);
    const all = Promise.all(['a', 'b', 'c', 'd', 'e'].map((n) => limited.lookup(n)));
    for (let i = 0; i < 5; i++) {
      await new Promise((resolve) => setImmediate(resolve));
      releases.shift()?.();
      // A newcomer arriving while a slot is handed over must wait too.
      void limited.lookup('late').catch(() => undefined);
    }
    expect(await all).toEqual([['a'], ['b'], ['c'], ['d'], ['e']]);
    expect(peak).toBe(2);
    releases.forEach((r) => r());
  });

  it('a failed lookup frees its slot', async () => {
    const limited = limitConcurrency(staticResolver({ ok: ['1.2.3.4'] }), 1);
    await expect(limited.lookup('missing')).rejects.toMatchObject({ code: 'ENOTFOUND' });
    await expect(limited.lookup('ok')).resolves.toEqual(['1.2.3.4']);
  });
});

describe('the model credential over plain HTTP', () => {
  it('goes only to an upstream every address of which is loopback', () => {
    expect(plainModelAllowed(['127.0.0.1'])).toBe(true);
    expect(plainModelAllowed(['127.0.0.1', '::1'])).toBe(true);
    expect(plainModelAllowed(['127.0.0.1', '10.0.0.1'])).toBe(false);
    expect(plainModelAllowed(['93.184.215.14'])).toBe(false);
    expect(plainModelAllowed([])).toBe(false);
  });
});
