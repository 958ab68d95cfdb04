/**
 * infra/stack.yml itself, deployed with `docker stack deploy` on a one-node swarm of the test's
 * own (a private dockerd in a network namespace: this host's engine and any other suite's swarm
 * are never touched), from the images infra/build-stack-images.sh builds, moved to the node with
 * `docker save | docker load` as infra/README.md tells an operator: the API answers through the
 * TLS front with two replicas on Postgres; `users add` through `docker exec` in one replica is
 * seen by the other; a device login goes through the front; the S3 store answers through it; a
 * session created through the front runs as a Swarm service (the Swarm provisioner) and leaves
 * nothing once stopped; `docker stack rm` (and removing the stack's volumes and secrets) leaves
 * nothing on the node.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { probeDocker } from '../helpers/docker.js';
import { REPO_ROOT } from '../helpers/paths.js';
import { deviceLoginHttps, httpsRequest, loadImages, makeFrontCertificate, mountsUnder, privateEngineRefusal, startPrivateEngine, type PrivateEngine } from '../helpers/stack.js';
import { tempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/wait.js';

const STACK = 'catty';
const SECRETS = ['catty_secret_key', 'catty_db_password', 'catty_s3_access_key_id', 'catty_s3_secret_access_key', 'catty_tls_cert', 'catty_tls_key', 'catty_node_ca', 'catty_node_api_cert', 'catty_node_api_key'];
const EMAIL = 'operator@example.com';
const PASSWORD = 'stack-test-password-1';

const probe = await probeDocker('tests/swarm/stack');
const refusal = probe.ok ? privateEngineRefusal() : probe.reason;
if (refusal && process.env.CI === 'true') throw new Error(`tests/swarm/stack: ${refusal}; CI=true requires it`);
if (refusal && probe.ok) console.log(`[swarm] stack test skipped: ${refusal}`);

describe.skipIf(refusal !== null)('infra/stack.yml on a one-node swarm', () => {
  let work: string;
  let engine: PrivateEngine;
  let front: { ca: string; cert: string; key: string };
  let caPem: string;
  let url: string;
  let s3Url: string;
  let token: string;

  const apiTasks = (): string[] => engine.docker(['ps', '-q', '--filter', `label=com.docker.swarm.service.name=${STACK}_api`, '--filter', 'status=running']).split('\n').filter(Boolean);
  const execIn = (container: string, args: string[], input?: string): string => engine.docker(['exec', ...(input === undefined ? [] : ['-i']), container, ...args], input);

  beforeAll(async () => {
    work = tempDir('catty-stack-');
    const imagesEnv = path.join(work, 'images.env');
    if (process.env.CATTY_DOCKER_SKIP_BUILD === '1') writeImageIds(imagesEnv);
    else {
      const built = spawnSync(path.join(REPO_ROOT, 'infra/build-stack-images.sh'), ['--env', imagesEnv], { cwd: REPO_ROOT, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
      if (built.status !== 0) throw new Error(`infra/build-stack-images.sh failed:\n${`${built.stdout}${built.stderr}`.split('\n').slice(-30).join('\n')}`);
    }
    const images = Object.fromEntries(fs.readFileSync(imagesEnv, 'utf8').trim().split('\n').map((line) => line.split('=') as [string, string]));

    engine = await startPrivateEngine(path.join(work, 'engine'));
    engine.docker(['swarm', 'init', '--advertise-addr', engine.address]);
    const started = Date.now();
    await loadImages(engine, ['catty-api:dev', 'catty-postgres:dev', 'catty-caddy:dev', 'catty-session:dev']);
    console.log(`[swarm] stack images loaded into the node in ${Date.now() - started} ms`);
    const nodeId = engine.docker(['info', '-f', '{{.Swarm.NodeID}}']).trim();
    engine.docker(['node', 'update', ...['postgres', 's3', 'front', 'node'].flatMap((l) => ['--label-add', `catty.${l}=true`]), nodeId]);

    // The front's certificate from an internal CA; the nodes' from catty-node certs.
    front = makeFrontCertificate(path.join(work, 'front-tls'), engine.address);
    caPem = fs.readFileSync(front.ca, 'utf8');
    const certs = path.join(work, 'node-certs');
    const made = spawnSync(process.execPath, [path.join(REPO_ROOT, 'dist/api/node/bin.js'), 'certs', '--out', certs, '--ca-dir', path.join(work, 'node-ca'), '--node', engine.address, '--api'], { encoding: 'utf8' });
    if (made.status !== 0) throw new Error(`catty-node certs failed: ${made.stderr}`);
    const secret = (name: string, value: string) => engine.docker(['secret', 'create', name, '-'], value);
    secret('catty_secret_key', randomText(32, 'base64'));
    secret('catty_db_password', randomText(24, 'hex'));
    secret('catty_s3_access_key_id', randomText(12, 'hex'));
    secret('catty_s3_secret_access_key', randomText(24, 'hex'));
    secret('catty_tls_cert', fs.readFileSync(front.cert, 'utf8'));
    secret('catty_tls_key', fs.readFileSync(front.key, 'utf8'));
    secret('catty_node_ca', fs.readFileSync(path.join(certs, 'api/ca.pem'), 'utf8'));
    secret('catty_node_api_cert', fs.readFileSync(path.join(certs, 'api/api.pem'), 'utf8'));
    secret('catty_node_api_key', fs.readFileSync(path.join(certs, 'api/api-key.pem'), 'utf8'));

    url = `https://${engine.address}:8443`;
    s3Url = `https://${engine.address}:9443`;
    const env = {
      PATH: process.env.PATH,
      ...images,
      CATTY_PUBLIC_URL: url,
      CATTY_S3_URL: s3Url,
      CATTY_HTTPS_PORT: '8443',
      CATTY_API_REPLICAS: '2',
      DOCKER_GID: String(fs.statSync(engine.socket).gid),
      CATTY_DOCKER_SOCKET: engine.socket,
      CATTY_DOCKER_VOLUMES: path.join(engine.dataRoot, 'volumes'),
      CATTY_NODE_TLS_HOST_DIR: path.join(certs, 'nodes', engine.address),
      CATTY_EXTRA_CA_PEM: front.ca,
    };
    const deployed = spawnSync('docker', ['-H', `unix://${engine.socket}`, 'stack', 'deploy', '--resolve-image', 'never', '-c', path.join(REPO_ROOT, 'infra/stack.yml'), STACK], { env, encoding: 'utf8' });
    if (deployed.status !== 0) throw new Error(`docker stack deploy failed: ${deployed.stderr}`);
  }, 600_000);

  afterAll(async () => {
    if (!engine) return;
    spawnSync('docker', ['-H', `unix://${engine.socket}`, 'stack', 'rm', STACK]);
    await engine.close();
    fs.rmSync(work, { recursive: true, force: true });
  }, 60_000);

  test('the API answers through the TLS front, two replicas on one Postgres', async () => {
    const started = Date.now();
    await waitFor(
      async () => apiTasks().length === 2 && (await httpsRequest(`${url}/healthz`, caPem).then((r) => r.status === 200, () => false)),
      () => `two API replicas healthy behind the front; tasks:\n${engine.docker(['stack', 'ps', STACK, '--no-trunc', '--format', '{{.Name}} {{.CurrentState}} {{.Error}}'])}`,
      { timeoutMs: 150_000, everyMs: 500 },
    );
    console.log(`[swarm] stack deployed → API healthy through the front in ${Date.now() - started} ms`);
    // Through the front with the operator's CA, and only with it.
    await expect(httpsRequest(`${url}/healthz`, fs.readFileSync(path.join(work, 'node-ca/ca.pem'), 'utf8'))).rejects.toThrow(/certificate/);
    const health = await httpsRequest(`${url}/healthz`, caPem);
    expect(health.headers['strict-transport-security']).toBe('max-age=31536000');

    // One replica adds the user (docker exec, as the README says); the other sees it: one database.
    const [first, second] = apiTasks() as [string, string];
    expect(execIn(first, ['catty-api', 'users', 'add', EMAIL, '--password-stdin'], `${PASSWORD}\n`)).toContain(`created ${EMAIL}`);
    expect(execIn(second, ['catty-api', 'users', 'list'])).toContain(EMAIL);
    expect(execIn(second, ['sh', '-c', 'echo "$CATTY_MODE $CATTY_DATABASE_URL"']).trim()).toBe('shared postgres://catty@postgres:5432/catty');
    // The README's backup of the state works as written, and holds the user just added.
    const postgres = engine.docker(['ps', '-q', '--filter', `label=com.docker.swarm.service.name=${STACK}_postgres`]).trim();
    expect(engine.docker(['exec', '-u', 'postgres', postgres, 'sh', '-c', 'pg_dump -Fc catty | head -c 5'])).toBe('PGDMP');
    expect(engine.docker(['exec', '-u', 'postgres', postgres, 'sh', '-c', `pg_dump catty | grep -c '${EMAIL}'`]).trim()).not.toBe('0');
  }, 180_000);

  test('a device login through the front', async () => {
    const tokens = await deviceLoginHttps(url, caPem, EMAIL, PASSWORD);
    token = tokens.access_token;
    // Several requests, spread by the front over both replicas: each opens what the other sealed.
    for (let i = 0; i < 4; i++) {
      const me = await httpsRequest(`${url}/v1/me`, caPem, { headers: { authorization: `Bearer ${tokens.access_token}` } });
      expect(me.status).toBe(200);
      expect(JSON.parse(me.body)).toMatchObject({ email: EMAIL });
    }
  }, 60_000);

  test('the S3 store answers through the front, and only signed requests', async () => {
    expect((await httpsRequest(`${s3Url}/_catty/healthz`, caPem)).status).toBe(200);
    expect((await httpsRequest(`${s3Url}/catty/anything`, caPem)).status).toBe(403);
  }, 30_000);

  test('a session created through the front runs as a Swarm service on the node; stopped, nothing of it is left', async () => {
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const api = (route: string, method = 'GET', body?: object) => httpsRequest(`${url}${route}`, caPem, { method, headers, body: body && JSON.stringify(body) });
    const started = Date.now();
    const created = await api('/v1/sessions', 'POST', { cmd: 'echo stack-session-ok; sleep 600', upload: false });
    expect(created.status, created.body).toBe(201);
    const { id } = JSON.parse(created.body) as { id: string };
    const bySession = ['--filter', `label=catty.session-id=${id}`];
    try {
      await sessionRunsAndStops(id, bySession, started);
    } finally {
      // Sessions are not the stack's: one a failed check left running would outlive `stack rm`.
      const left = (what: 'service' | 'volume' | 'ps') => engine.docker([...(what === 'ps' ? ['ps', '-a'] : [what, 'ls']), '-q', ...bySession]).split('\n').filter(Boolean);
      if (left('service').length > 0) {
        engine.docker(['service', 'rm', ...left('service')]);
        await waitFor(() => left('ps').length === 0, 'the left session\'s containers to go', { timeoutMs: 30_000, everyMs: 250 });
      }
      if (left('volume').length > 0) engine.docker(['volume', 'rm', ...left('volume')]);
    }
  }, 240_000);

  async function sessionRunsAndStops(id: string, bySession: string[], started: number): Promise<void> {
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const api = (route: string, method = 'GET') => httpsRequest(`${url}${route}`, caPem, { method, headers });
    // Polled through the front: either replica answers, both see the same session.
    await waitFor(async () => (JSON.parse((await api(`/v1/sessions/${id}`)).body) as { status: string }).status === 'running', () => `session ${id} running; services: ${engine.docker(['service', 'ls'])}`, { timeoutMs: 90_000, everyMs: 500 });
    console.log(`[swarm] session created through the front → running in ${Date.now() - started} ms`);
    expect(engine.docker(['service', 'ls', ...bySession, '--format', '{{.Name}} {{.Replicas}}']).trim()).toMatch(/^catty-session-\S+ 1\/1$/);
    // Its output, read by a replica from the runtime through the node's catty-node (mutual TLS).
    const output = async (): Promise<string> => {
      const answer = await api(`/v1/sessions/${id}/logs`);
      expect(answer.status, answer.body).toBe(200);
      return Buffer.from((JSON.parse(answer.body) as { data: string }).data, 'base64').toString();
    };
    await waitFor(async () => (await output()).includes('stack-session-ok'), 'the session\'s output through the front', { timeoutMs: 30_000, everyMs: 500 });
    // Through either replica (the front alternates): each opens the connect token the other sealed.
    for (let i = 0; i < 4; i++) expect(await output()).toContain('stack-session-ok');
    expect((await api(`/v1/sessions/${id}/stop`, 'POST')).status).toBe(200);
    await waitFor(
      () => engine.docker(['service', 'ls', '-q', ...bySession]).trim() === '' && engine.docker(['volume', 'ls', '-q', ...bySession]).trim() === '' && engine.docker(['ps', '-aq', ...bySession]).trim() === '',
      () => `session ${id}'s service, containers and volumes to go: ${engine.docker(['volume', 'ls', ...bySession])}`,
      { timeoutMs: 60_000, everyMs: 500 },
    );
  }

  test('docker stack rm, then the stack volumes and secrets: nothing left on the node', async () => {
    const started = Date.now();
    engine.docker(['stack', 'rm', STACK]);
    await waitFor(
      () => engine.docker(['ps', '-aq']).trim() === '' && !engine.docker(['network', 'ls', '--format', '{{.Name}}']).includes(`${STACK}_control`),
      () => `the stack's containers and network to go; left:\n${engine.docker(['ps', '-a', '--format', '{{.Names}} {{.Status}}'])}`,
      { timeoutMs: 60_000, everyMs: 250 },
    );
    console.log(`[swarm] docker stack rm → no container left in ${Date.now() - started} ms`);
    engine.docker(['volume', 'rm', `${STACK}_pgdata`, `${STACK}_s3data`]);
    engine.docker(['secret', 'rm', ...SECRETS]);
    for (const what of ['service', 'secret', 'config', 'volume']) expect(engine.docker([what, 'ls', '-q']).trim(), what).toBe('');
    expect(engine.docker(['ps', '-aq']).trim()).toBe('');
    // The engine goes too, with everything it made on this host (this host's own engine it never
    // used but for `docker save`: its swarm state is other suites' business).
    const netns = `catty-stack-${process.pid}`;
    await engine.close();
    expect(spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout).not.toContain(netns);
    expect(mountsUnder(path.join(work, 'engine'))).toEqual([]);
    expect(fs.existsSync(path.join(work, 'engine'))).toBe(false);
  }, 120_000);
});

function randomText(bytes: number, encoding: 'hex' | 'base64'): string {
  return spawnSync('openssl', ['rand', `-${encoding}`, String(bytes)], { encoding: 'utf8' }).stdout.trim();
}

/** CATTY_DOCKER_SKIP_BUILD=1: the images as they are, by id. */
function writeImageIds(file: string): void {
  const id = (image: string) => spawnSync('docker', ['image', 'inspect', '-f', '{{.Id}}', image], { encoding: 'utf8' }).stdout.trim();
  const names = { CATTY_API_IMAGE: 'catty-api:dev', CATTY_POSTGRES_IMAGE: 'catty-postgres:dev', CATTY_CADDY_IMAGE: 'catty-caddy:dev', CATTY_SESSION_IMAGE: 'catty-session:dev' };
  fs.writeFileSync(file, `${Object.entries(names).map(([name, image]) => `${name}=${id(image)}`).join('\n')}\n`);
}
