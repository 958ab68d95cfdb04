/**
 * The Swarm provisioner's pure half (api/provisioners/swarm-spec.ts, swarm-config.ts): the
 * service a session becomes — the Docker container's hardening where Swarm has it, no network
 * named, one task never restarted, placement by node labels — and its settings' parsing.
 * The engine's side of each is in swarm.test.ts.
 */
import type Docker from 'dockerode';
import { describe, expect, it } from 'vitest';
import { parseManager, swarmOptionsFromEnv } from '../../api/provisioners/swarm-config.js';
import { LOOPBACK_ONLY_ENV, serviceSpec, sessionVolumes } from '../../api/provisioners/swarm-spec.js';
import type { MachineSpec } from '../../api/provisioners/types.js';

const spec: MachineSpec = {
  sessionId: 'abc123',
  ownerId: 'owner',
  label: 'calm-otter-1',
  connectToken: 'cat_ct_x',
  machineToken: 'cat_mt_y',
  apiUrl: 'http://10.0.0.1:8787',
  agentCmd: ['claude'],
  agentEnv: { FOO: 'bar' },
  upload: true,
  network: { preset: 'none', allow: [] },
  credentials: { inject: [] },
};
const limits = { memoryBytes: 1 << 30, nanoCpus: 1e9, pidsLimit: 256, tmpBytes: 1 << 28, homeBytes: 1 << 26 };
const plan = { image: 'catty-session:dev', runtime: undefined, limits, runtimeEnv: { CATTY_SNAPSHOT_INTERVAL_MS: '1000' }, controlPlane: 'cp1', stopGraceMs: 20_000 };

describe('a session as a Swarm service', () => {
  it('one task, never restarted, on catty nodes, hardened, with no network and its three volumes', () => {
    const s = serviceSpec(spec, plan);
    expect(s.Name).toBe('catty-session-abc123');
    expect(s.Mode).toEqual({ Replicated: { Replicas: 1 } });
    expect(s.Networks).toBeUndefined();
    expect(s.EndpointSpec).toBeUndefined();
    const task = s.TaskTemplate as Required<Docker.ContainerTaskSpec>;
    expect(task.Networks).toBeUndefined();
    expect(task.RestartPolicy).toEqual({ Condition: 'none', MaxAttempts: 0 });
    expect(task.Placement.Constraints).toEqual(['node.labels.catty.node==true']);
    expect(task.Resources.Limits).toEqual({ MemoryBytes: limits.memoryBytes, NanoCPUs: limits.nanoCpus, Pids: limits.pidsLimit });
    const c = task.ContainerSpec!;
    expect(c).toMatchObject({ User: '1000:1000', ReadOnly: true, CapabilityDrop: ['ALL'], Init: false, HealthCheck: { Test: ['NONE'] }, StopSignal: 'SIGTERM', StopGracePeriod: 20_000 * 1e6 });
    expect(c.CapabilityAdd).toBeUndefined();
    expect(c.Labels).toMatchObject({ 'catty.managed': 'true', 'catty.control-plane': 'cp1', 'catty.session-id': 'abc123' });
    const v = sessionVolumes('abc123');
    expect(c.Mounts!.map((m) => [m.Type, m.Source, m.Target, m.ReadOnly ?? false])).toEqual([
      ['volume', v.workspace, '/workspace', false],
      ['volume', v.run, '/run/catty', false],
      ['volume', v.egress, '/run/catty-egress', true],
      ['tmpfs', '', '/tmp', false],
      ['tmpfs', '', '/home', false],
    ]);
    // The node takes only volumes labelled as the session's.
    for (const m of c.Mounts!.filter((x) => x.Type === 'volume')) expect(m.VolumeOptions?.Labels).toMatchObject({ 'catty.managed': 'true', 'catty.session-id': 'abc123' });
    const env = Object.fromEntries(c.Env!.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
    expect(env).toMatchObject({
      [LOOPBACK_ONLY_ENV]: '1',
      CATTY_LISTEN: 'unix:/run/catty/runtime.sock',
      CATTY_CALLBACK_SOCKET: '/run/catty/callback.sock',
      CATTY_EGRESS_SOCKET: '/run/catty-egress/proxy.sock',
      CATTY_API_URL: 'http://10.0.0.1:8787',
      CATTY_SNAPSHOT_INTERVAL_MS: '1000',
    });
  });

  it('gVisor (or another runtime) by node label', () => {
    const task = serviceSpec(spec, { ...plan, runtime: 'catty-runsc' }).TaskTemplate as Docker.ContainerTaskSpec;
    expect(task.Placement?.Constraints).toEqual(['node.labels.catty.node==true', 'node.labels.catty.runtime==catty-runsc']);
  });

  it('a session id that cannot name a service is refused', () => {
    expect(() => serviceSpec({ ...spec, sessionId: '../x' }, plan)).toThrow(/cannot name/);
  });
});

describe('CATTY_SWARM_MANAGER and friends', () => {
  it('takes a socket URL, a socket path or tcp://host:port, and says what it takes otherwise', () => {
    expect(parseManager('unix:///run/docker.sock')).toEqual({ socketPath: '/run/docker.sock' });
    expect(parseManager('/var/run/docker.sock')).toEqual({ socketPath: '/var/run/docker.sock' });
    expect(parseManager('tcp://10.0.0.1:2375')).toEqual({ host: '10.0.0.1', port: 2375, protocol: 'http' });
    expect(parseManager('tcp://[fd00::1]:2375')).toEqual({ host: 'fd00::1', port: 2375, protocol: 'http' });
    expect(() => parseManager('ssh://root@node')).toThrow(/CATTY_SWARM_MANAGER must be unix:\/\/\/path\/docker\.sock/);
  });

  it('defaults to the local socket; bad values name their variable', () => {
    expect(swarmOptionsFromEnv({})).toMatchObject({ manager: { socketPath: '/var/run/docker.sock' }, nodePort: 7443, tlsDir: undefined });
    expect(swarmOptionsFromEnv({ CATTY_NODE_PORT: '9443', CATTY_DOCKER_RUNTIME: 'catty-runsc', CATTY_DOCKER_MEMORY_MB: '512' })).toMatchObject({ nodePort: 9443, runtime: 'catty-runsc', limits: { memoryBytes: 512 * 1024 * 1024 } });
    expect(() => swarmOptionsFromEnv({ CATTY_NODE_PORT: '70000' })).toThrow(/CATTY_NODE_PORT/);
    expect(() => swarmOptionsFromEnv({ CATTY_NODE_TLS_DIR: 'relative' })).toThrow(/CATTY_NODE_TLS_DIR must be an absolute path/);
  });
});
