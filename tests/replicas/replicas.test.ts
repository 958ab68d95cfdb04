/**
 * Two catty-api replicas in shared mode (CATTY_MODE=shared) on one real Postgres and one
 * standalone S3 server (`catty-api s3-server`), behind a round-robin TCP proxy (the load
 * balancer), sessions on the Docker provisioner (both replicas on the engine's host, sharing the
 * data directory — and so the run directory — as shared mode's docker option requires):
 * - replicas started together migrate once; the key never reaches a machine or catty-node;
 * - a session created through A is listed, connected, relayed, downloaded and stopped through B;
 * - A is SIGKILLed while the built `catty connect` relays a terminal through it: the CLI
 *   reconnects through B with no byte lost or doubled, and the machine A started still calls
 *   back (B, holding the background lease, opens its route out again);
 * - a TTL expiry stops the session once; concurrent stops through both replicas stop it once
 *   (counted in both replicas' logs);
 * - a replica with another CATTY_SECRET_KEY refuses to start, saying so; a rotation
 *   (CATTY_SECRET_KEY_PREVIOUS) is accepted, tokens sealed before it still open, and afterwards
 *   the old key alone is refused.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type Docker from 'dockerode';
import pg from 'pg';
import { x as untar } from 'tar';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RouteError, type ApiClient } from '../../api/contract/client.js';
import { routes } from '../../api/contract/routes.js';
import { deviceLogin, testClient } from '../helpers/api.js';
import { saveLogin } from '../helpers/credentials.js';
import { SESSION_IMAGE, buildSessionImage, probeDocker } from '../helpers/docker.js';
import { API_BIN } from '../helpers/paths.js';
import { freshDatabaseUrl } from '../helpers/postgres.js';
import { PtyProcess } from '../helpers/pty.js';
import { backendOf, startRoundRobin, type RoundRobin } from '../helpers/round-robin.js';
import { TestClient, sessionWs } from '../helpers/runtime.js';
import { waitFor } from '../helpers/wait.js';

const probe = await probeDocker('replicas');
const docker = (probe as { docker?: Docker }).docker;

const OLD_KEY = randomBytes(32).toString('base64');
const NEW_KEY = randomBytes(32).toString('base64');
const S3_KEY = { CATTY_S3_ACCESS_KEY_ID: `CATTY${randomBytes(8).toString('hex').toUpperCase()}`, CATTY_S3_SECRET_ACCESS_KEY: randomBytes(30).toString('base64url') };
const EMAIL = 'replicas@example.com';
const PASSWORD = 'replicas-password-1';

interface Replica {
  name: string;
  url: string;
  proc: ChildProcess;
  stderr(): string;
}

const procs: ChildProcess[] = [];
let dataDir: string;
let databaseUrl: string;
let s3Endpoint: string;
let lb: RoundRobin;
let token: string;
const sessions: string[] = [];

function baseEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    CATTY_MODE: 'shared',
    CATTY_DATABASE_URL: databaseUrl,
    CATTY_SECRET_KEY: OLD_KEY,
    CATTY_S3_ENDPOINT: s3Endpoint,
    ...S3_KEY,
    CATTY_PUBLIC_URL: lb.url,
    CATTY_PROVISIONER: 'docker',
    CATTY_DOCKER_IMAGE: SESSION_IMAGE,
    CATTY_DATA_DIR: dataDir,
    CATTY_API_LISTEN: '127.0.0.1:0',
    CATTY_SWEEP_INTERVAL_MS: '500',
    CATTY_DEVICE_CODE_INTERVAL_SEC: '1',
    CATTY_STOP_GRACE_MS: '3000',
    CATTY_HEALTH_TIMEOUT_MS: '60000',
    CATTY_LOG_LEVEL: 'debug',
    CATTY_RUNTIME_ENV: JSON.stringify({ CATTY_SNAPSHOT_INTERVAL_MS: '1500', CATTY_API_HEARTBEAT_INTERVAL_MS: '1000' }),
    ...extra,
  };
}

/** Starts a replica; resolves once it listens, rejects with its stderr if it exits first. */
async function startReplica(name: string, extra: Record<string, string> = {}): Promise<Replica> {
  const proc = spawn(process.execPath, [API_BIN], { env: baseEnv(extra), stdio: ['ignore', 'pipe', 'pipe'] });
  procs.push(proc);
  let stdout = '';
  let stderr = '';
  proc.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const url = await waitFor(
    () => {
      if (proc.exitCode !== null) throw new Error(`replica ${name} exited ${proc.exitCode}: ${stderr.slice(-3000)}`);
      return /catty-api listening on (http:\/\/\S+)/.exec(stdout)?.[1];
    },
    `replica ${name} to listen`,
    { timeoutMs: 60_000, everyMs: 50 },
  );
  return { name, url, proc, stderr: () => stderr };
}

/** Runs a replica that must refuse to start: its exit code and stderr. */
async function refusedReplica(extra: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  const proc = spawn(process.execPath, [API_BIN], { env: baseEnv(extra), stdio: ['ignore', 'pipe', 'pipe'] });
  procs.push(proc);
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => proc.once('exit', (c) => resolve(c)));
  return { code, stderr };
}

/** Log lines (pino JSON) of a replica with this message and session. */
function logLines(replica: Replica, msg: string, sessionId: string): unknown[] {
  return replica
    .stderr()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { msg?: string; sessionId?: string })
    .filter((l) => l.msg === msg && l.sessionId === sessionId);
}

const stopsOf = (replicas: Replica[], sessionId: string): number => replicas.reduce((n, r) => n + logLines(r, 'stopping the session machine', sessionId).length, 0);

async function snapshotAfter(client: ApiClient, label: string, afterMs: number): Promise<{ url: string; createdAt: string }> {
  return waitFor(
    async () => {
      try {
        const snap = await client.call(routes.download, { params: { ref: label } });
        return Date.parse(snap.createdAt) > afterMs ? snap : null;
      } catch (err) {
        if (err instanceof RouteError && err.code === 'no_snapshot') return null;
        throw err;
      }
    },
    `a snapshot of ${label} taken after ${new Date(afterMs).toISOString()}`,
    { timeoutMs: 60_000, everyMs: 250 },
  );
}

/** What the terminal showed, without the CLI's status line (drawn between save/restore cursor). */
const withoutStatus = (raw: string): string => raw.split('\x1b7').map((part, i) => (i === 0 ? part : part.slice(part.indexOf('\x1b8') + 2))).join('');

describe.skipIf(!probe.ok)('two catty-api replicas on one Postgres, one S3 server, behind a load balancer', () => {
  let a: Replica;
  let b: Replica;
  let viaA: ApiClient;
  let viaB: ApiClient;

  beforeAll(async () => {
    buildSessionImage();
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'catty-rep-'));
    // Not migrated: the replicas started together migrate it.
    databaseUrl = await freshDatabaseUrl({ migrated: false });
    const s3 = spawn(process.execPath, [API_BIN, 's3-server', '--listen', '127.0.0.1:0', '--dir', path.join(dataDir, 's3-store')], { env: { PATH: process.env.PATH, ...S3_KEY }, stdio: ['ignore', 'pipe', 'pipe'] });
    procs.push(s3);
    let s3Out = '';
    s3.stdout!.on('data', (d: Buffer) => (s3Out += d.toString()));
    s3Endpoint = await waitFor(() => /listening on (http:\/\/\S+)/.exec(s3Out)?.[1], 'the S3 server to listen');
    lb = await startRoundRobin([{ host: '127.0.0.1', port: 1 }, { host: '127.0.0.1', port: 1 }]);
    [a, b] = await Promise.all([startReplica('A'), startReplica('B')]);
    lb.setBackend(0, backendOf(a.url));
    lb.setBackend(1, backendOf(b.url));
    const add = spawnSync(process.execPath, [API_BIN, 'users', 'add', EMAIL, '--password-stdin'], { env: baseEnv(), input: `${PASSWORD}\n`, encoding: 'utf8' });
    if (add.status !== 0) throw new Error(`users add failed: ${add.stderr}`);
    token = (await deviceLogin(lb.url, EMAIL, PASSWORD)).access_token;
    viaA = testClient(a.url, token);
    viaB = testClient(b.url, token);
  }, 300_000);

  afterAll(async () => {
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    for (const id of sessions) {
      await docker!.getContainer(`catty-session-${id}`).remove({ force: true }).catch(() => undefined);
      await docker!.getVolume(`catty-ws-${id}`).remove().catch(() => undefined);
    }
    // catty-node (shared by the replicas, in the data dir) goes with the machines.
    const nodePidFile = path.join(dataDir, 'node', 'catty-node.pid');
    if (fs.existsSync(nodePidFile)) {
      try {
        process.kill(Number(fs.readFileSync(nodePidFile, 'utf8')), 'SIGKILL');
      } catch {
        // gone
      }
    }
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('replicas started together migrate once', async () => {
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    try {
      const { rows } = await client.query<{ version: number; n: string }>('SELECT version, COUNT(*) AS n FROM schema_version GROUP BY version ORDER BY version');
      expect(rows.length).toBeGreaterThan(5);
      expect(rows.every((r) => Number(r.n) === 1)).toBe(true);
      expect(rows.map((r) => r.version)).toEqual(rows.map((_, i) => i + 1));
    } finally {
      await client.end();
    }
  });

  it('a session created through A is listed, connected, relayed, downloaded and stopped through B; the key reaches no machine', async () => {
    const s = await viaA.call(routes.createSession, { body: { cmd: 'echo made-on-a > /workspace/made-on-a.txt; echo started; while read l; do echo "got $l"; done', upload: false } });
    sessions.push(s.id);
    expect(s.status).toBe('running');
    expect((await viaB.call(routes.listSessions)).sessions.map((x) => x.label)).toContain(s.label);
    expect((await viaB.call(routes.getSession, { params: { ref: s.label } })).status).toBe('running');

    const info = await viaB.call(routes.connect, { params: { ref: s.label } });
    // Relayed by B itself (the load balancer would pick either).
    const throughB = { ...info, connectUrl: info.connectUrl.replace(lb.url, b.url) };
    expect(throughB.connectUrl.startsWith(b.url)).toBe(true);
    const terminal = new TestClient(sessionWs(throughB));
    try {
      await terminal.opened;
      await terminal.waitForText('started', 30_000);
      terminal.send(Buffer.from('through-b\r'));
      await terminal.waitForText('got through-b', 15_000);
    } finally {
      await terminal.close();
    }

    const snap = await snapshotAfter(viaB, s.label, 0);
    const dest = fs.mkdtempSync(path.join(os.tmpdir(), 'catty-rep-dl-'));
    try {
      fs.writeFileSync(path.join(dest, 'snap.tar.gz'), Buffer.from(await (await fetch(snap.url)).arrayBuffer()));
      await untar({ file: path.join(dest, 'snap.tar.gz'), cwd: dest });
      expect(fs.readFileSync(path.join(dest, 'made-on-a.txt'), 'utf8')).toBe('made-on-a\n');
    } finally {
      fs.rmSync(dest, { recursive: true, force: true });
    }

    // The shared key is the control plane's: not in the machine's environment, not in catty-node's.
    const env = (await docker!.getContainer(`catty-session-${s.id}`).inspect()).Config.Env.join('\n');
    const rawKey = Buffer.from(OLD_KEY, 'base64');
    for (const form of [OLD_KEY, rawKey.toString('hex'), rawKey.toString('base64url')]) expect(env).not.toContain(form);
    const nodePid = Number(fs.readFileSync(path.join(dataDir, 'node', 'catty-node.pid'), 'utf8'));
    const nodeEnv = fs.readFileSync(`/proc/${nodePid}/environ`, 'latin1');
    expect(nodeEnv).not.toContain('CATTY_SECRET_KEY');
    expect(nodeEnv).not.toContain(OLD_KEY);

    expect((await viaB.call(routes.stop, { params: { ref: s.label } })).status).toBe('stopped');
    await expect(docker!.getContainer(`catty-session-${s.id}`).inspect()).rejects.toMatchObject({ statusCode: 404 });
    expect(stopsOf([a, b], s.id)).toBe(1);
    // Ended by its stop, not taken for lost by the lease holder's reconcile while it stopped.
    await new Promise((resolve) => setTimeout(resolve, 1500)); // three sweep ticks: reconcile looked
    expect(await viaA.call(routes.getSession, { params: { ref: s.label } })).toMatchObject({ status: 'stopped', detail: 'stopped by the user' });
  });

  it('a TTL expiry stops the session once; concurrent stops through both replicas stop it once', async () => {
    const idle = await viaA.call(routes.createSession, { body: { cmd: 'sleep 600', upload: false, ttlSec: 10 } });
    const busy = await viaB.call(routes.createSession, { body: { cmd: 'sleep 600', upload: false } });
    sessions.push(idle.id, busy.id);
    const ended = await waitFor(
      async () => {
        const got = await viaB.call(routes.getSession, { params: { ref: idle.label } });
        return got.status === 'running' ? null : got;
      },
      'the idle session to time out',
      { timeoutMs: 60_000, everyMs: 250 },
    );
    expect(ended.status).toBe('timed_out');
    expect(stopsOf([a, b], idle.id)).toBe(1);
    // Swept by one replica only: the holder of the background lease.
    expect([a, b].filter((r) => logLines(r, 'session idle past its ttl', idle.id).length > 0)).toHaveLength(1);

    const stops = await Promise.all([viaA, viaB, viaA, viaB, viaA, viaB].map((c) => c.call(routes.stop, { params: { ref: busy.label } })));
    expect(stops.map((x) => x.status)).toEqual(Array(6).fill('stopped'));
    expect(stopsOf([a, b], busy.id)).toBe(1);
  });

  it('SIGKILL of the replica relaying a terminal: the CLI reconnects through the other, no byte lost; the machine still calls back', async () => {
    // The session and the CLI's first connections go to A.
    lb.pin(0);
    const lines = 2500;
    const s = await testClient(lb.url, token).call(routes.createSession, {
      body: { cmd: `i=0; while [ $i -lt ${lines} ]; do printf 'L%06d\\n' $i; i=$((i+1)); sleep 0.004; done; echo ALL-DONE; while :; do date > /workspace/tick.txt; sleep 1; done`, upload: false },
    });
    sessions.push(s.id);
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'catty-rep-cli-'));
    saveLogin(home, { apiUrl: lb.url, accessToken: token });
    const cli = PtyProcess.catty(['connect', s.label, '--no-sync-back'], { cwd: home, env: { PATH: process.env.PATH, HOME: home, CATTY_HOME: home, CATTY_KEYRING: 'off', NO_COLOR: '1' } });
    await waitFor(() => /L000200/.test(cli.output()), 'the terminal relayed through A', { timeoutMs: 60_000 });
    lb.pin(null);
    const killedAt = Date.now();
    a.proc.kill('SIGKILL');
    await waitFor(() => cli.output().includes('ALL-DONE'), () => `the rest of the output through B (seen: ${cli.output().slice(-300)})`, { timeoutMs: 90_000 });
    const seen = [...withoutStatus(cli.output()).matchAll(/L(\d{6})\r*\n/g)].map((m) => Number(m[1]));
    expect(seen.length).toBe(lines);
    expect(seen.every((n, i) => n === i)).toBe(true);
    // The machine A started reports to the API again (B opened its route out): a new snapshot.
    await snapshotAfter(viaB, s.label, killedAt + 2000);
    cli.write('\x1d');
    await cli.exited;
    fs.rmSync(home, { recursive: true, force: true });
    expect((await viaB.call(routes.stop, { params: { ref: s.label } })).status).toBe('stopped');
  });

  it('a replica with another key refuses to start; a rotation is accepted, then the old key alone is refused', async () => {
    const wrong = await refusedReplica({ CATTY_SECRET_KEY: NEW_KEY });
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toContain("this replica's key does not open what the others sealed");
    expect(wrong.stderr).toContain('CATTY_SECRET_KEY');

    const before = await viaB.call(routes.createSession, { body: { cmd: 'echo sealed-before; cat', upload: false } });
    sessions.push(before.id);
    const c = await startReplica('C', { CATTY_SECRET_KEY: NEW_KEY, CATTY_SECRET_KEY_PREVIOUS: OLD_KEY });
    const viaC = testClient(c.url, token);
    // The connect token sealed under the old key opens under the new one (sealed again at C's start).
    const info = await viaC.call(routes.connect, { params: { ref: before.label } });
    expect(info.connectToken).toBe(before.connectToken);
    const terminal = new TestClient(sessionWs({ ...info, connectUrl: info.connectUrl.replace(lb.url, c.url) }));
    try {
      await terminal.opened;
      await terminal.waitForText('sealed-before', 30_000);
    } finally {
      await terminal.close();
    }
    // Every replica on the new key now: the old key alone is refused, the new one alone starts.
    b.proc.kill('SIGTERM');
    const old = await refusedReplica({ CATTY_SECRET_KEY: OLD_KEY });
    expect(old.stderr).toContain("this replica's key does not open what the others sealed");
    const d = await startReplica('D', { CATTY_SECRET_KEY: NEW_KEY });
    expect((await testClient(d.url, token).call(routes.connect, { params: { ref: before.label } })).connectToken).toBe(before.connectToken);
    expect((await viaC.call(routes.stop, { params: { ref: before.label } })).status).toBe('stopped');
  });
});
