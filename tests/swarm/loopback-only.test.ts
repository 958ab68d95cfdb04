/**
 * The image's entrypoint with CATTY_LOOPBACK_ONLY=1 (what the Swarm provisioner sets): a Swarm
 * service cannot ask for no network, so a node whose dockerd has a bridge would give its
 * session one. The entrypoint refuses to start there, and starts where it sees only lo.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { SESSION_IMAGE, buildSessionImage, probeDocker } from '../helpers/docker.js';

const probe = await probeDocker('swarm loopback-only');

function runImage(network: string): { status: number | null; stderr: string } {
  // No connect token: past the check the runtime exits at once, saying so.
  const r = spawnSync('docker', ['run', '--rm', '--network', network, '-e', 'CATTY_LOOPBACK_ONLY=1', SESSION_IMAGE], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stderr: r.stderr };
}

describe.skipIf(!probe.ok)('CATTY_LOOPBACK_ONLY in the session image', () => {
  it('refuses a machine with an interface besides lo, names it and what to set', () => {
    buildSessionImage();
    const hosted = runImage('host');
    expect(hosted.status).toBe(1);
    expect(hosted.stderr).toMatch(/network interfaces besides lo \(.*eth0.*\): run dockerd with --bridge=none/);
    const alone = runImage('none');
    expect(alone.stderr).not.toMatch(/besides lo/);
    expect(alone.stderr).toMatch(/CATTY_CONNECT_TOKEN/);
  }, 300_000);
});
