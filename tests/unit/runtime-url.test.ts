/**
 * runtimeUrl: a runtime's path under its endpoint's base URL, which for a cluster node carries a
 * path of its own (`/v1/machines/<id>/runtime`) that `new URL(path, base)` would drop.
 */
import { describe, expect, it } from 'vitest';
import { SOCKET_BASE_URL, runtimeUrl } from '../../session-runtime/wire/runtime-address.js';

describe('runtimeUrl', () => {
  it('keeps the base path and the query', () => {
    const base = { url: 'https://10.0.0.2:7443/v1/machines/abc/runtime' };
    expect(runtimeUrl(base, '/connect?cols=80&rows=24').href).toBe('https://10.0.0.2:7443/v1/machines/abc/runtime/connect?cols=80&rows=24');
    expect(runtimeUrl({ url: `${base.url}/` }, '/healthz').href).toBe('https://10.0.0.2:7443/v1/machines/abc/runtime/healthz');
    expect(new URL('/healthz', base.url).pathname).toBe('/healthz'); // what it replaces
  });
  it('is the plain join for a runtime at the root (a socket, a TCP port)', () => {
    expect(runtimeUrl({ url: SOCKET_BASE_URL }, '/upload?cols=1').href).toBe('http://localhost/upload?cols=1');
    expect(runtimeUrl({ url: 'http://127.0.0.1:4000' }, 'logs').href).toBe('http://127.0.0.1:4000/logs');
  });
});
