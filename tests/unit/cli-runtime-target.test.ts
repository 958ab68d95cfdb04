import { describe, expect, it } from 'vitest';
import { runtimeTarget } from '../../cli/sessions/runtime-target.js';
import { UserError } from '../../session-runtime/wire/errors.js';

describe('where the CLI reaches a runtime', () => {
  const socket = '/home/u/.catty/local/data/machines/abc/run/runtime.sock';

  it('a URL alone from any API; a socket beside it from an API on this machine', () => {
    expect(runtimeTarget('https://catty.example.com', { connectUrl: 'https://catty.example.com/v1/sessions/abc/runtime' })).toEqual({ connectUrl: 'https://catty.example.com/v1/sessions/abc/runtime' });
    for (const api of ['http://127.0.0.1:8787', 'http://localhost:8787', 'http://[::1]:8787']) {
      expect(runtimeTarget(api, { connectUrl: 'http://localhost', socketPath: socket })).toEqual({ connectUrl: 'http://localhost', socketPath: socket });
    }
  });

  it('refuses a socket path from an API elsewhere (it would aim the upload and keystrokes at a local socket), or a relative one', () => {
    expect(() => runtimeTarget('https://catty.example.com', { connectUrl: 'http://localhost', socketPath: '/var/run/docker.sock' })).toThrow(UserError);
    expect(() => runtimeTarget('https://catty.example.com', { connectUrl: 'http://localhost', socketPath: '/var/run/docker.sock' })).toThrow(/handed out a local socket path/);
    expect(() => runtimeTarget('http://127.0.0.1:8787', { connectUrl: 'http://localhost', socketPath: 'run/runtime.sock' })).toThrow(UserError);
  });
});
