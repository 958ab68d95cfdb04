import { describe, expect, it } from 'vitest';
import { buildAgentEnv } from '../../session-runtime/agent-env.js';
import { ConfigError, loadConfig, parseListen } from '../../session-runtime/config.js';

describe('runtime config', () => {
  it('requires a connect token and applies defaults', () => {
    expect(() => loadConfig({})).toThrow(ConfigError);
    const c = loadConfig({ CATTY_CONNECT_TOKEN: 't' });
    expect(c).toMatchObject({ workspace: '/workspace', listen: { kind: 'tcp', host: '0.0.0.0', port: 8080 }, agentCmd: ['claude', '--dangerously-skip-permissions'], api: null, snapshotIntervalMs: 30_000 });
  });

  it('parses JSON settings and refuses bad ones with the variable name', () => {
    const c = loadConfig({ CATTY_CONNECT_TOKEN: 't', CATTY_AGENT_CMD: '["sh","-c","x"]', CATTY_AGENT_ENV: '{"A":"1"}', CATTY_LISTEN: '127.0.0.1:0', CATTY_API_URL: 'http://api/', CATTY_MACHINE_TOKEN: 'm' });
    expect(c.agentCmd).toEqual(['sh', '-c', 'x']);
    expect(c.agentEnv).toEqual({ A: '1' });
    expect(c.listen).toEqual({ kind: 'tcp', host: '127.0.0.1', port: 0 });
    expect(c.api).toEqual({ url: 'http://api', machineToken: 'm' });
    expect(() => loadConfig({ CATTY_CONNECT_TOKEN: 't', CATTY_AGENT_CMD: 'claude' })).toThrow(/CATTY_AGENT_CMD/);
    expect(() => loadConfig({ CATTY_CONNECT_TOKEN: 't', CATTY_AGENT_ENV: '{"A":1}' })).toThrow(/CATTY_AGENT_ENV/);
    expect(() => loadConfig({ CATTY_CONNECT_TOKEN: 't', CATTY_SNAPSHOT_INTERVAL_MS: '-5' })).toThrow(/CATTY_SNAPSHOT_INTERVAL_MS/);
    expect(parseListen('[::1]:80')).toEqual({ kind: 'tcp', host: '::1', port: 80 });
    expect(() => parseListen('nope')).toThrow(ConfigError);
  });

  it('listens on a Unix socket given as unix:/absolute/path (at most 107 bytes: sockaddr_un)', () => {
    expect(loadConfig({ CATTY_CONNECT_TOKEN: 't', CATTY_LISTEN: 'unix:/run/catty/runtime.sock' }).listen).toEqual({ kind: 'unix', path: '/run/catty/runtime.sock' });
    expect(parseListen(`unix:/${'a'.repeat(106)}`)).toEqual({ kind: 'unix', path: `/${'a'.repeat(106)}` });
    for (const bad of ['unix:', 'unix:relative.sock', `unix:/${'a'.repeat(107)}`, 'unix:/a\0b', 'http://127.0.0.1:80']) {
      expect(() => parseListen(bad), bad).toThrow(/CATTY_LISTEN must be host:port or unix:/);
    }
  });

  it('builds the agent env from nothing: no CATTY_* and nothing else of the runtime', () => {
    const env = buildAgentEnv({
      runtimeEnv: { PATH: '/usr/bin', CATTY_CONNECT_TOKEN: 'x', AWS_SECRET_ACCESS_KEY: 'y', LANG: 'en_US.UTF-8' },
      agentEnv: { ANTHROPIC_API_KEY: 'k', CATTY_X: 'no' },
      home: '/home/agent',
      isRoot: true,
    });
    expect(Object.keys(env).sort()).toEqual(['ANTHROPIC_API_KEY', 'DISABLE_AUTOUPDATER', 'HOME', 'IS_SANDBOX', 'LANG', 'PATH', 'SHELL', 'TERM']);
    expect(env.PATH!.startsWith('/usr/bin:')).toBe(true);
    expect(env.PATH!.endsWith('node_modules/.bin')).toBe(true);
  });
});
