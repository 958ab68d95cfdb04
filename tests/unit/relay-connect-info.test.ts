/**
 * clientConnectInfo never hands a client a runtime behind a cluster node (mutual TLS with the
 * API's certificate: only the API reaches it): with a public URL the client gets the relay, and
 * without one the API says what to set rather than hand out an address the client cannot use.
 */
import { describe, expect, it } from 'vitest';
import { clientConnectInfo } from '../../api/relay/paths.js';

const tlsEndpoint = { url: 'https://10.0.0.2:7443/v1/machines/abc/runtime', tls: { ca: 'ca', cert: 'cert', key: 'key' } };

describe('clientConnectInfo for a cluster runtime', () => {
  it('is the relay with a public URL', () => {
    expect(clientConnectInfo({ publicUrl: 'https://catty.example' }, 'abc', tlsEndpoint)).toEqual({ connectUrl: 'https://catty.example/v1/sessions/abc/runtime' });
  });
  it('is refused without one, naming CATTY_PUBLIC_URL', () => {
    expect(() => clientConnectInfo({ publicUrl: null }, 'abc', tlsEndpoint)).toThrow(/CATTY_PUBLIC_URL/);
  });
  it('is unchanged for a local runtime', () => {
    expect(clientConnectInfo({ publicUrl: null }, 'abc', { url: 'http://localhost', socketPath: '/run/x.sock' })).toEqual({ connectUrl: 'http://localhost', socketPath: '/run/x.sock' });
  });
});
