/**
 * Helpers for the Docker suite (vitest project `slow`): find a Docker engine (or say in one line
 * why the suite skips — and fail instead under CI=true), build the session image with the same
 * script a developer uses, and a fake API that records the runtime's callbacks.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import Docker from 'dockerode';
import { closeServer, listenLoopback } from './loopback.js';
import { REPO_ROOT } from './paths.js';

export const SESSION_IMAGE = process.env.CATTY_SESSION_IMAGE ?? 'catty-session:dev';

export type DockerProbe = { ok: true; docker: Docker; runtimes: string[] } | { ok: false; reason: string };

/** The gVisor runtime the suite runs sessions under, as infra/README.md and .ci/run register it
 * (runsc with --network=none --host-uds=all). */
export const GVISOR_RUNTIME = 'catty-runsc';

/** The OCI runtimes to run each Docker test under: runc, and gVisor when the engine has it. */
export function sessionRuntimes(probe: DockerProbe): string[] {
  if (!probe.ok) return [];
  return ['runc', ...(probe.runtimes.includes(GVISOR_RUNTIME) ? [GVISOR_RUNTIME] : [])];
}

/** Pings the engine (DOCKER_HOST or /var/run/docker.sock). Under CI a missing engine throws. */
export async function probeDocker(suite: string): Promise<DockerProbe> {
  const docker = new Docker();
  let probe: DockerProbe;
  try {
    await docker.ping();
    const info = (await docker.info()) as { Runtimes?: Record<string, unknown> };
    probe = { ok: true, docker, runtimes: Object.keys(info.Runtimes ?? {}) };
  } catch (error) {
    probe = { ok: false, reason: `no Docker engine answers (${(error as Error).message})` };
  }
  if (!probe.ok) {
    if (process.env.CI === 'true') throw new Error(`${suite}: ${probe.reason}; CI=true requires Docker`);
    // One line per test run, not per file: the files of a run share vitest's main process.
    const marker = path.join(os.tmpdir(), `catty-docker-skip-${process.ppid}`);
    if (!fs.existsSync(marker)) {
      fs.writeFileSync(marker, '');
      console.log(`[docker] tests/docker skipped: ${probe.reason}. Start dockerd to run them (see infra/README.md).`);
    }
  }
  return probe;
}

/** Runs infra/build-session-image.sh (layer cache makes an up-to-date rebuild take seconds).
 * CATTY_DOCKER_SKIP_BUILD=1 reuses whatever SESSION_IMAGE holds. */
export function buildSessionImage(): void {
  if (process.env.CATTY_DOCKER_SKIP_BUILD === '1') return;
  const started = Date.now();
  const result = spawnSync(path.join(REPO_ROOT, 'infra/build-session-image.sh'), [], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    env: { ...process.env, CATTY_SESSION_IMAGE: SESSION_IMAGE },
    maxBuffer: 64 * 1024 * 1024,
  });
  if (result.status !== 0) {
    const tail = `${result.stdout}\n${result.stderr}`.trim().split('\n').slice(-30).join('\n');
    throw new Error(`infra/build-session-image.sh failed (${result.status}):\n${tail}`);
  }
  console.log(`[docker] session image ${SESSION_IMAGE} ready in ${Date.now() - started} ms`);
}

export interface RecordedCallback {
  path: string;
  authorization: string | undefined;
}

/** An HTTP server on 127.0.0.1:0 standing in for the API's runtime callbacks (the contract's machine routes). It
 * answers 503 (storage unavailable: the runtime retries and keeps working) and records calls. */
export async function startFakeApi(): Promise<{ url: string; calls: RecordedCallback[]; close(): Promise<void> }> {
  const calls: RecordedCallback[] = [];
  const server = http.createServer((req, res) => {
    calls.push({ path: req.url ?? '', authorization: req.headers.authorization });
    req.resume();
    req.on('end', () => {
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'unavailable', message: 'fake api' } }));
    });
  });
  const { url } = await listenLoopback(server);
  return { url, calls, close: () => closeServer(server) };
}

/** Removes every container and volume a test run left behind (by label), best effort. */
export async function removeLeftovers(docker: Docker, sessionIdPrefix: string): Promise<void> {
  const containers = await docker.listContainers({ all: true, filters: { label: ['catty.managed=true'] } });
  for (const c of containers) {
    if (!c.Labels['catty.session-id']?.startsWith(sessionIdPrefix)) continue;
    await docker.getContainer(c.Id).remove({ force: true, v: true }).catch(() => undefined);
  }
  const { Volumes } = await docker.listVolumes({ filters: { label: ['catty.managed=true'] } });
  for (const v of Volumes ?? []) {
    if (v.Labels?.['catty.session-id']?.startsWith(sessionIdPrefix)) await docker.getVolume(v.Name).remove().catch(() => undefined);
  }
}
