/**
 * For tests/swarm/stack.test.ts: a Docker engine of the test's own — a second dockerd in a
 * network namespace made for it (a veth pair to this host, its own data and exec roots) — so
 * the stack's swarm never touches this host's engine or another suite's swarm, and goes away
 * whole. Plus the few things the stack test does to it: load images the way an operator moves
 * them to a node (`docker save | docker load`), create secrets, and talk HTTPS to the stack's
 * front with its internal CA.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { waitFor } from './wait.js';

export interface PrivateEngine {
  /** The engine's address on the link to this host (the swarm advertises it; ports publish on it). */
  address: string;
  socket: string;
  /** Its data root (volumes under `<root>/volumes`). */
  dataRoot: string;
  /** `docker -H <socket> …args`; throws with the output when it fails. */
  docker(args: string[], input?: string): string;
  /** Stops dockerd, removes the namespace, the link and every file it made. Idempotent. */
  close(): Promise<void>;
}

function run(cmd: string, args: string[], input?: string): string {
  const res = spawnSync(cmd, args, { input, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (res.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${res.status ?? res.signal}): ${`${res.stderr}${res.stdout}`.trim()}`);
  return res.stdout;
}

/** What a private engine needs of this host, or why it cannot have one. */
export function privateEngineRefusal(): string | null {
  if (process.getuid?.() !== 0) return 'not root (a network namespace and a second dockerd need it)';
  for (const tool of ['ip', 'nsenter', 'dockerd', 'openssl']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `${tool} is missing`;
  }
  return null;
}

/** A /24 on 10.231.x no interface of this host uses yet. */
function freeSubnet(): number {
  const used = run('ip', ['-o', '-4', 'addr', 'show']);
  for (let i = 0; i < 200; i++) {
    const n = 20 + ((process.pid + i) % 200);
    if (!used.includes(` 10.231.${n}.`)) return n;
  }
  throw new Error('no free 10.231.x.0/24 for the private engine');
}

/** Mounts under `dir` (dockerd leaves netns and overlay mounts behind when it dies hard). */
export function mountsUnder(dir: string): string[] {
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4] ?? '')
    .filter((mountPoint) => mountPoint === dir || mountPoint.startsWith(`${dir}/`));
}

export async function startPrivateEngine(workDir: string): Promise<PrivateEngine> {
  const n = freeSubnet();
  const netns = `catty-stack-${process.pid}`;
  const [hostIf, nsIf] = [`cstk${n}h`, `cstk${n}n`];
  const address = `10.231.${n}.2`;
  const dataRoot = path.join(workDir, 'root');
  const execRoot = path.join(workDir, 'exec');
  const socket = path.join(workDir, 'docker.sock');
  let dockerd: ChildProcess | null = null;
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    if (dockerd && dockerd.exitCode === null && dockerd.signalCode === null) {
      const exited = new Promise((resolve) => dockerd!.once('exit', resolve));
      dockerd.kill('SIGTERM');
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 20_000))]);
      if (dockerd.exitCode === null && dockerd.signalCode === null) dockerd.kill('SIGKILL');
    }
    spawnSync('ip', ['netns', 'del', netns]);
    spawnSync('ip', ['link', 'del', hostIf]);
    for (const mountPoint of mountsUnder(workDir).reverse()) spawnSync('umount', ['-l', mountPoint]);
    fs.rmSync(workDir, { recursive: true, force: true });
  };
  try {
    fs.mkdirSync(workDir, { recursive: true, mode: 0o700 });
    run('ip', ['netns', 'add', netns]);
    run('ip', ['link', 'add', hostIf, 'type', 'veth', 'peer', 'name', nsIf]);
    run('ip', ['link', 'set', nsIf, 'netns', netns]);
    run('ip', ['addr', 'add', `10.231.${n}.1/24`, 'dev', hostIf]);
    run('ip', ['link', 'set', hostIf, 'up']);
    for (const args of [['addr', 'add', `${address}/24`, 'dev', nsIf], ['link', 'set', nsIf, 'up'], ['link', 'set', 'lo', 'up']]) run('ip', ['netns', 'exec', netns, 'ip', ...args]);
    // nsenter, not `ip netns exec`: that one remounts /sys, hiding the cgroup mounts dockerd needs.
    const log = fs.openSync(path.join(workDir, 'dockerd.log'), 'a');
    dockerd = spawn(
      'nsenter',
      [`--net=/var/run/netns/${netns}`, 'dockerd', '--data-root', dataRoot, '--exec-root', execRoot, '--pidfile', path.join(workDir, 'docker.pid'), '-H', `unix://${socket}`, '--bridge=none', '--iptables=false', '--ip-masq=false'],
      { stdio: ['ignore', log, log] },
    );
    fs.closeSync(log);
    const engine: PrivateEngine = { address, socket, dataRoot, docker: (args, input) => run('docker', ['-H', `unix://${socket}`, ...args], input), close };
    await waitFor(() => spawnSync('docker', ['-H', `unix://${socket}`, 'version'], { stdio: 'ignore' }).status === 0 || (dockerd!.exitCode !== null ? Promise.reject(new Error(`dockerd exited: ${fs.readFileSync(path.join(workDir, 'dockerd.log'), 'utf8').slice(-2000)}`)) : false), 'the private dockerd', { timeoutMs: 30_000, everyMs: 100 });
    return engine;
  } catch (err) {
    await close();
    throw err;
  }
}

/** `docker save <images> | docker -H <engine> load`: how an operator moves images to a node. */
export async function loadImages(engine: PrivateEngine, images: string[]): Promise<void> {
  const save = spawn('docker', ['save', ...images], { stdio: ['ignore', 'pipe', 'pipe'] });
  const load = spawn('docker', ['-H', `unix://${engine.socket}`, 'load', '-q'], { stdio: ['pipe', 'pipe', 'pipe'] });
  save.stdout.pipe(load.stdin);
  let errors = '';
  for (const child of [save, load]) child.stderr.on('data', (chunk: Buffer) => (errors += chunk.toString()));
  const exit = (child: ChildProcess) => new Promise<number | null>((resolve) => child.once('close', resolve));
  const [saved, loaded] = await Promise.all([exit(save), exit(load)]);
  if (saved !== 0 || loaded !== 0) throw new Error(`docker save | docker load of ${images.join(' ')} failed (${saved}, ${loaded}): ${errors}`);
}

/** An internal CA and a server certificate for `ip` (openssl), as files in `dir`. */
export function makeFrontCertificate(dir: string, ip: string): { ca: string; cert: string; key: string } {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const [ca, caKey, cert, key, csr, ext] = ['ca.pem', 'ca-key.pem', 'cert.pem', 'key.pem', 'csr.pem', 'ext.cnf'].map((f) => path.join(dir, f)) as [string, string, string, string, string, string];
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  run('openssl', ['req', '-x509', ...ec, '-days', '1', '-subj', '/CN=catty stack test CA', '-keyout', caKey, '-out', ca]);
  run('openssl', ['req', ...ec, '-subj', '/CN=catty front', '-keyout', key, '-out', csr]);
  fs.writeFileSync(ext, `subjectAltName=IP:${ip}\nextendedKeyUsage=serverAuth\n`);
  run('openssl', ['x509', '-req', '-in', csr, '-CA', ca, '-CAkey', caKey, '-CAcreateserial', '-days', '1', '-extfile', ext, '-out', cert]);
  return { ca, cert, key };
}

export interface HttpsAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One HTTPS request trusting `ca` only (fetch cannot be given a CA on Node 20). */
export function httpsRequest(url: string, ca: string, options: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<HttpsAnswer> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method: options.method ?? 'GET', headers: options.headers, ca, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${url}: no answer in 10 s`)));
    req.on('error', reject);
    req.end(options.body);
  });
}

/** The device flow through the front, as a browser and the CLI do it: tokens for `email`. */
export async function deviceLoginHttps(url: string, ca: string, email: string, password: string): Promise<{ access_token: string }> {
  const json = { 'content-type': 'application/json' };
  const codes = JSON.parse((await httpsRequest(`${url}/v1/auth/device`, ca, { method: 'POST' })).body) as { device_code: string; user_code: string; verification_uri_complete: string; interval: number };
  const jar = new Map<string, string>();
  const remember = (answer: HttpsAnswer) => {
    const cookies = answer.headers['set-cookie'] ?? [];
    for (const c of Array.isArray(cookies) ? cookies : [cookies]) {
      const [pair] = c.split(';');
      const eq = pair!.indexOf('=');
      jar.set(pair!.slice(0, eq), pair!.slice(eq + 1));
    }
  };
  const cookie = () => [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
  const csrfOf = (html: string) => /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';
  const form = { 'content-type': 'application/x-www-form-urlencoded' };
  const page1 = await httpsRequest(codes.verification_uri_complete, ca);
  remember(page1);
  const login = await httpsRequest(`${url}/device/login`, ca, { method: 'POST', headers: { ...form, cookie: cookie() }, body: new URLSearchParams({ email, password, code: codes.user_code, csrf: csrfOf(page1.body) }).toString() });
  if (login.status !== 303) throw new Error(`device sign-in through the front: ${login.status} ${login.body.slice(0, 200)}`);
  remember(login);
  const page2 = await httpsRequest(codes.verification_uri_complete, ca, { headers: { cookie: cookie() } });
  const decide = await httpsRequest(`${url}/device/decide`, ca, { method: 'POST', headers: { ...form, cookie: cookie() }, body: new URLSearchParams({ code: codes.user_code, csrf: csrfOf(page2.body), action: 'approve' }).toString() });
  if (decide.status !== 200) throw new Error(`device approval through the front: ${decide.status}`);
  return waitFor(
    async () => {
      const answer = await httpsRequest(`${url}/v1/auth/device/token`, ca, { method: 'POST', headers: json, body: JSON.stringify({ grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: codes.device_code }) });
      const body = JSON.parse(answer.body) as { access_token?: string; error?: string };
      if (answer.status === 200 && body.access_token) return { access_token: body.access_token };
      if (body.error !== 'authorization_pending' && body.error !== 'slow_down') throw new Error(`device token through the front: ${answer.status} ${answer.body}`);
      return null;
    },
    'the device token',
    { timeoutMs: 30_000, everyMs: codes.interval * 1000 },
  );
}
