// Shared pieces of the benchmark harness: statistics, process spawning with peak-RSS
// measurement from outside, and a private catty installation (CATTY_HOME + local control plane).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const CATTY = path.join(ROOT, 'dist/cli/bin.js');

export const nowMs = () => Number(process.hrtime.bigint()) / 1e6;

export function quantile(samples, q) {
  const sorted = [...samples].sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[index];
}
export const median = (samples) => quantile(samples, 0.5);

/**
 * catty against its baseline: the median of the ratios of each pair (catty's run i over the
 * baseline's run i, measured back to back). This machine's speed drifts by 2× and more over
 * minutes (a P1 baseline gave 10, 23 and 53 MB/s in one run); a pair shares its moment, so its
 * ratio carries the product's cost and little of the drift, where a ratio of two medians can
 * pair a slow moment on one side with a fast one on the other.
 */
export function pairedRatio(ours, theirs) {
  return median(ours.map((x, i) => x / theirs[i]));
}

export function tempDir(prefix) {
  return fs.mkdtempSync(path.join(os.tmpdir(), `catty-bench-${prefix}-`));
}

/** Peak RSS (MB) of a live process, from /proc; null once it has gone. */
export function peakRssMb(pid) {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const hwm = /VmHWM:\s+(\d+) kB/.exec(status);
    return hwm ? Number(hwm[1]) / 1024 : null;
  } catch {
    return null;
  }
}

/** Resident set size (MB) right now. */
export function rssMb(pid) {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const rss = /VmRSS:\s+(\d+) kB/.exec(status);
    return rss ? Number(rss[1]) / 1024 : null;
  } catch {
    return null;
  }
}

/**
 * Runs a command to completion; samples its peak RSS from /proc every 10 ms (VmHWM is the
 * kernel's own high-water mark, so sampling only has to catch the process alive).
 */
export function run(cmd, args, { cwd, env, input, timeoutMs = 300_000, ownSession = false } = {}) {
  return new Promise((resolve, reject) => {
    const started = nowMs();
    const child = spawn(cmd, args, { cwd, env, stdio: ['pipe', 'pipe', 'pipe'], detached: ownSession });
    let stdout = '';
    let stderr = '';
    let peak = 0;
    const sampler = setInterval(() => {
      const value = peakRssMb(child.pid);
      if (value !== null) peak = Math.max(peak, value);
    }, 10);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      clearInterval(sampler);
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: nowMs() - started, peakRssMb: peak });
    });
    child.stdin.end(input ?? '');
  });
}

/** A private catty: its own CATTY_HOME and embedded control plane, stopped by `close`. */
export async function cattyInstallation(extraEnv = {}) {
  const home = tempDir('home');
  // CATTY_LOCAL_SPARE passes through, to measure session start with and without a spare machine.
  const spare = process.env.CATTY_LOCAL_SPARE === undefined ? {} : { CATTY_LOCAL_SPARE: process.env.CATTY_LOCAL_SPARE };
  const env = { PATH: process.env.PATH, HOME: home, CATTY_HOME: path.join(home, '.catty'), LANG: 'C.UTF-8', TERM: 'xterm-256color', ...spare, ...extraEnv };
  const started = await run(process.execPath, [CATTY, 'server', 'start'], { cwd: home, env });
  if (started.code !== 0) throw new Error(`catty server start failed: ${started.stderr}`);
  return {
    home,
    env,
    bin: CATTY,
    catty: (args, options = {}) => run(process.execPath, [CATTY, ...args], { cwd: home, env, ...options }),
    async close() {
      await run(process.execPath, [CATTY, 'server', 'stop'], { cwd: home, env });
      fs.rmSync(home, { recursive: true, force: true });
    },
  };
}

/**
 * Starts `catty` attached without a terminal; resolves helpers to write keystrokes and to wait
 * for output.
 */
export function attached(args, { cwd, env, ownSession = false }) {
  const child = spawn(process.execPath, [CATTY, ...args], { cwd, env, stdio: ['pipe', 'pipe', 'pipe'], detached: ownSession });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise((resolve) => child.on('close', (code) => resolve(code)));
  return { child, exited, stderr: () => stderr };
}

export function formatTable(rows) {
  const header = '| metric | catty | baseline | ratio | target | result |\n|---|---|---|---|---|---|';
  const lines = rows.map((r) => `| ${r.metric} | ${r.catty} | ${r.baseline} | ${r.ratio} | ${r.target} | ${r.pass ? 'pass' : 'FAIL'} |`);
  return [header, ...lines].join('\n');
}

/** Stops and deletes every session of an installation (benchmarks leave nothing running). */
export async function stopAll(installation) {
  const listed = await installation.catty(['list', '--json']);
  if (listed.code !== 0) return;
  for (const session of JSON.parse(listed.stdout)) {
    await installation.catty(['stop', session.label, '--delete']);
  }
}

/**
 * Polls `check` (sync or async) every `everyMs` until it returns something other than undefined
 * (`onTick` runs before each look, e.g. to sample memory); rejects naming `what` after `timeoutMs`.
 */
export function waitFor(what, check, timeoutMs, { everyMs = 2, onTick = () => {} } = {}) {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + timeoutMs;
    const tick = async () => {
      onTick();
      const value = await check();
      if (value !== undefined) return resolve(value);
      if (Date.now() > deadline) return reject(new Error(`${what} timed out`));
      setTimeout(() => tick().catch(reject), everyMs);
    };
    tick().catch(reject);
  });
}

/**
 * `count` sequential GETs of `url` (bearer `token`), in a process of its own: the bench's own
 * process is busy draining many CLIs' output, and its event loop's delays are not the API's
 * (measured: the API handled list in p99 4.7 ms while a client in the bench saw ~50 ms).
 * Returns the latencies in ms.
 */
export async function listLatencies(url, token, count) {
  const result = await run(process.execPath, ['--input-type=module', '-e', LIST_CLIENT, url, token, String(count)], { env: { PATH: process.env.PATH }, ownSession: true });
  if (result.code !== 0) throw new Error(`the list client failed: ${result.stderr}`);
  return JSON.parse(result.stdout);
}

const LIST_CLIENT = `
const [url, token, count] = process.argv.slice(1);
// One request first: a process's first fetch loads its HTTP client and opens the connection.
await (await fetch(url, { headers: { authorization: 'Bearer ' + token } })).arrayBuffer();
const latencies = [];
for (let i = 0; i < Number(count); i++) {
  const started = performance.now();
  const response = await fetch(url, { headers: { authorization: 'Bearer ' + token } });
  await response.arrayBuffer();
  if (!response.ok) throw new Error('list answered ' + response.status);
  latencies.push(performance.now() - started);
}
process.stdout.write(JSON.stringify(latencies));
`;

/**
 * A bare `catty-session` (no API, no sandbox) on 127.0.0.1:0 in a fresh temp dir, for the
 * runtime-only benches. `RT_NODE_ARGS` adds node flags (to try V8 settings); `RT_BIN` runs
 * another runtime bundle (to compare two builds in alternating runs). `stop()` SIGTERMs it and
 * removes the dir.
 */
export async function startBareRuntime(agentCmd, { env = {}, stderr = 'inherit' } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'catty-bench-rt-'));
  fs.mkdirSync(path.join(dir, 'ws'));
  const token = randomBytes(16).toString('hex');
  const nodeArgs = (process.env.RT_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const proc = spawn(process.execPath, [...nodeArgs, process.env.RT_BIN ?? path.join(ROOT, 'dist/session-runtime/bin.js')], {
    env: { PATH: process.env.PATH, CATTY_WORKSPACE: path.join(dir, 'ws'), CATTY_LISTEN: '127.0.0.1:0', CATTY_CONNECT_TOKEN: token, CATTY_AGENT_HOME: path.join(dir, 'home'), CATTY_AGENT_CMD: JSON.stringify(agentCmd), ...env },
    stdio: ['ignore', 'pipe', stderr],
  });
  const url = await new Promise((resolve, reject) => {
    let out = '';
    proc.once('exit', (code) => reject(new Error(`catty-session exited (${code}) before it was ready`)));
    proc.stdout.on('data', (d) => {
      out += d;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]);
    });
  });
  const stop = () => {
    proc.kill('SIGTERM');
    return new Promise((r) => proc.once('exit', () => {
      fs.rmSync(dir, { recursive: true, force: true });
      r();
    }));
  };
  return { proc, url, token, dir, stop };
}

const TICK_S = 100; // USER_HZ on Linux

/** CPU seconds (user and system) a live process has used so far, read from outside it. */
export function cpuSeconds(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: Number(fields[11]) / TICK_S, sys: Number(fields[12]) / TICK_S };
}

/**
 * A client for a bare runtime (`node --input-type=module -e ATTACH_CLIENT <url> <token>`): the
 * CLI's own attach loop, stdout a pipe, stdin that never types. For the runtime-only dev benches.
 */
export const ATTACH_CLIENT = `
import { PassThrough } from 'node:stream';
import { EventEmitter } from 'node:events';
import { attach } from ${JSON.stringify(path.join(ROOT, 'dist/cli/attach/attach.js'))};
const [url, token] = process.argv.slice(1);
const proc = new EventEmitter(); proc.pid = process.pid;
const ctx = { env: {}, stdin: new PassThrough(), stdout: process.stdout, stderr: process.stderr, proc };
const code = await attach(ctx, { label: 'bench', connectUrl: url, connectToken: token, detachKey: 0x1d, autoReconnect: false, reconnectTimeoutMs: 1000, sync: null });
process.exitCode = code;
`;

/** The device flow over HTTP, as a person's browser does it (tests/helpers/api.ts's, in JS): a
 * token pair for a bench that needs a signed-in API. */
export async function deviceLogin(url, email, password) {
  const { routes } = await import('../../dist/api/contract/routes.js');
  const codes = await (await fetch(`${url}${routes.deviceCode.path}`, { method: 'POST' })).json();
  const jar = new Map();
  const remember = (res) => {
    for (const c of res.headers.getSetCookie()) {
      const [k, v] = c.split(';')[0].split('=');
      jar.set(k, v);
    }
  };
  const cookie = () => [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
  const csrfOf = (html) => /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';
  const form = (fields) => new globalThis.URLSearchParams(fields).toString();
  const page1 = await fetch(codes.verification_uri_complete);
  remember(page1);
  const signIn = await fetch(`${url}/device/login`, { method: 'POST', redirect: 'manual', headers: { cookie: cookie(), 'content-type': 'application/x-www-form-urlencoded' }, body: form({ email, password, code: codes.user_code, csrf: csrfOf(await page1.text()) }) });
  if (signIn.status !== 303) throw new Error(`device sign-in failed: ${signIn.status}`);
  remember(signIn);
  const page2 = await fetch(codes.verification_uri_complete, { headers: { cookie: cookie() } });
  const decide = await fetch(`${url}/device/decide`, { method: 'POST', headers: { cookie: cookie(), 'content-type': 'application/x-www-form-urlencoded' }, body: form({ code: codes.user_code, csrf: csrfOf(await page2.text()), action: 'approve' }) });
  if (decide.status !== 200) throw new Error(`device approval failed: ${decide.status}`);
  return waitFor('the device token', async () => {
    const res = await fetch(`${url}${routes.deviceToken.path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: codes.device_code }) });
    return res.status === 200 ? res.json() : undefined;
  }, 30_000, { everyMs: codes.interval * 1000 + 100 });
}
