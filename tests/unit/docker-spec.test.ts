import { describe, expect, it } from 'vitest';
import { DockerConfigError, dockerOptionsFromEnv } from '../../api/provisioners/docker-config.js';
import { containerName, containerOptions, gvisorProblem, volumeName } from '../../api/provisioners/docker-spec.js';
import { DEFAULT_LIMITS } from '../../api/provisioners/docker-spec.js';
import type { MachineSpec } from '../../api/provisioners/types.js';

const spec: MachineSpec = {
  sessionId: 's1',
  ownerId: 'u1',
  label: 'calm-fox-0042',
  connectToken: 'ct',
  machineToken: 'mt',
  apiUrl: 'http://127.0.0.1:8787',
  agentCmd: ['claude', '--dangerously-skip-permissions'],
  agentEnv: { ANTHROPIC_API_KEY: 'sk-test' },
  upload: false,
  runtimeEnv: { CATTY_SNAPSHOT_INTERVAL_MS: '5000', CATTY_CONNECT_TOKEN: 'spoofed' },
  egressDir: '/data/egress/s1',
};
const plan = { image: 'img', runtime: 'catty-runsc', limits: DEFAULT_LIMITS, runtimeEnv: {}, runDir: '/data/docker/catty-session-s1', controlPlane: 'cp1' };

describe('docker container spec', () => {
  it('builds a hardened container with no network, the runtime environment local machines get, and the run directory bound', () => {
    const options = containerOptions(spec, plan);
    const env = Object.fromEntries((options.Env ?? []).map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]));
    expect(env).toMatchObject({
      CATTY_CONNECT_TOKEN: 'ct',
      CATTY_MACHINE_TOKEN: 'mt',
      CATTY_LISTEN: 'unix:/run/catty/runtime.sock',
      CATTY_CALLBACK_SOCKET: '/run/catty/callback.sock',
      CATTY_EGRESS_SOCKET: '/run/catty-egress/proxy.sock',
      CATTY_API_URL: 'http://127.0.0.1:8787',
      CATTY_WORKSPACE: '/workspace',
      CATTY_AGENT_HOME: '/home/agent',
      CATTY_NO_UPLOAD: '1',
      CATTY_SNAPSHOT_INTERVAL_MS: '5000',
      CATTY_AGENT_CMD: '["claude","--dangerously-skip-permissions"]',
      CATTY_AGENT_ENV: '{"ANTHROPIC_API_KEY":"sk-test"}',
    });
    // Secrets travel only inside CATTY_AGENT_ENV, never as the runtime's own variables.
    expect(env.ANTHROPIC_API_KEY).toBeUndefined();
    expect(options.User).toBe('1000:1000');
    expect(options.HostConfig).toMatchObject({
      CapDrop: ['ALL'],
      SecurityOpt: ['no-new-privileges'],
      ReadonlyRootfs: true,
      Runtime: 'catty-runsc',
      NetworkMode: 'none',
      Memory: DEFAULT_LIMITS.memoryBytes,
      PidsLimit: DEFAULT_LIMITS.pidsLimit,
    });
    expect(options.ExposedPorts).toBeUndefined();
    expect(options.HostConfig?.Mounts).toContainEqual({ Type: 'bind', Source: '/data/docker/catty-session-s1', Target: '/run/catty', ReadOnly: false });
    // The egress directory as bubblewrap binds it: read-only, the directory (a restarted node is seen).
    expect(options.HostConfig?.Mounts).toContainEqual({ Type: 'bind', Source: '/data/egress/s1', Target: '/run/catty-egress', ReadOnly: true });
    // No health check: the engine would run it inside with the session's environment.
    expect(options.Healthcheck).toEqual({ Test: ['NONE'] });
    expect(options.Labels).toMatchObject({
      'catty.session-id': 's1',
      'catty.control-plane': 'cp1',
      'catty.run-dir': '/data/docker/catty-session-s1',
      'catty.api-url': 'http://127.0.0.1:8787',
    });
  });

  it('takes a gVisor runtime only with a loopback of its own and host sockets allowed', () => {
    const runsc = (...runtimeArgs: string[]) => ({ path: '/usr/bin/runsc', runtimeArgs });
    expect(gvisorProblem('catty-runsc', runsc('--network=none', '--host-uds=all'))).toBeNull();
    expect(gvisorProblem('catty-runsc', runsc('-network', 'none', '-host-uds=all'))).toBeNull();
    expect(gvisorProblem('runc', { path: 'runc' })).toBeNull();
    expect(gvisorProblem('runsc', runsc('--network=host'))).toMatch(/needs --network=none and --host-uds=all in its runtimeArgs.*"runtimeArgs": \["--network=none", "--host-uds=all"\]/);
    expect(gvisorProblem('runsc', runsc('--network=none', '--host-uds=open'))).toMatch(/needs --host-uds=all in/);
    expect(gvisorProblem('nope', undefined)).toMatch(/no OCI runtime named nope/);
  });

  it('refuses session ids Docker cannot use as names', () => {
    expect(containerName('abc-123')).toBe('catty-session-abc-123');
    expect(volumeName('abc-123')).toBe('catty-ws-abc-123');
    expect(() => containerName('../x')).toThrow(/cannot name/);
    expect(() => volumeName('a b')).toThrow(/cannot name/);
  });
});

describe('CATTY_DOCKER_* settings', () => {
  it('reads and converts every setting', () => {
    expect(
      dockerOptionsFromEnv({
        CATTY_DOCKER_IMAGE: 'registry.example/catty-session:1',
        CATTY_DOCKER_RUN_DIR: '/var/lib/catty/run/',
        CATTY_DOCKER_RUNTIME: 'catty-runsc',
        CATTY_DOCKER_MEMORY_MB: '1024',
        CATTY_DOCKER_CPUS: '1.5',
        CATTY_DOCKER_PIDS_LIMIT: '256',
        CATTY_DOCKER_TMP_MB: '64',
        CATTY_DOCKER_HOME_MB: '32',
        CATTY_DOCKER_RUNTIME_UNUSED: undefined,
      }),
    ).toEqual({
      image: 'registry.example/catty-session:1',
      runDir: '/var/lib/catty/run',
      runtime: 'catty-runsc',
      limits: { memoryBytes: 1024 * 1024 ** 2, nanoCpus: 1.5e9, pidsLimit: 256, tmpBytes: 64 * 1024 ** 2, homeBytes: 32 * 1024 ** 2 },
    });
    expect(dockerOptionsFromEnv({ CATTY_DOCKER_IMAGE: '' })).toEqual({ limits: {} });
  });

  it('names the bad variable', () => {
    expect(() => dockerOptionsFromEnv({ CATTY_DOCKER_MEMORY_MB: 'lots' })).toThrow(DockerConfigError);
    expect(() => dockerOptionsFromEnv({ CATTY_DOCKER_MEMORY_MB: 'lots' })).toThrow(/CATTY_DOCKER_MEMORY_MB/);
    expect(() => dockerOptionsFromEnv({ CATTY_DOCKER_RUN_DIR: 'relative' })).toThrow(/CATTY_DOCKER_RUN_DIR must be an absolute path/);
    // Sessions have no network to pick any more: an old setting is named, not silently ignored.
    expect(() => dockerOptionsFromEnv({ CATTY_DOCKER_NETWORK: 'catty-sessions' })).toThrow(/CATTY_DOCKER_NETWORK is no longer read/);
  });
});
