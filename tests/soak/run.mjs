#!/usr/bin/env node
// Soak: N sessions (default 20) on the local provisioner of the built catty-api for a bounded
// time (default 5 minutes; `--minutes N` or CATTY_SOAK_MINUTES), each agent printing a
// deterministic stream and writing/deleting files, each client dropping and reconnecting at
// random with its offset. At the end: every output byte delivered exactly (checked as it
// arrives), every file synced and in the final snapshot, peak RSS (VmHWM) of the API ≤ 200 MB
// and of each runtime ≤ 100 MB, and no leaked processes, listening ports or temp files compared
// with a census taken before. Prints a summary; exits 1 on any loss.
//   npm run soak -- --minutes 2 [--sessions 20]
import { spawn } from 'node:child_process';
import http from 'node:http';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tar from 'tar';
import { agentScript, expectedFiles, expectedOutputBytes } from './agent.mjs';
import { Census } from './census.mjs';
import { SoakClient } from './client.mjs';
import { zipOf } from './zip.mjs';
import { createApiClient } from '../../dist/api/contract/client.js';
import { routes } from '../../dist/api/contract/routes.js';
import { RuntimePath } from '../../dist/session-runtime/wire/protocol.js';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const API_BIN = path.join(REPO_ROOT, 'dist/api/bin.js');
const API_RSS_LIMIT_KIB = 200 * 1024;
const RUNTIME_RSS_LIMIT_KIB = 100 * 1024;
const UPLOADED = new Map([
  ['README.md', '# soak project\n'],
  ['src/main.txt', 'uploaded at start\n'],
]);

function option(name, envName, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  const raw = i >= 0 ? process.argv[i + 1] : process.env[envName];
  const value = raw === undefined ? fallback : Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} must be a positive number`);
  return value;
}
const minutes = option('minutes', 'CATTY_SOAK_MINUTES', 5);
const sessionCount = option('sessions', 'CATTY_SOAK_SESSIONS', 20);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (line) => console.log(`[soak ${new Date().toISOString().slice(11, 19)}] ${line}`);

/** A seeded PRNG (mulberry32) so a failing run can be repeated with CATTY_SOAK_SEED. */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function statusKiB(pid, field) {
  try {
    return Number(new RegExp(`${field}:\\s+(\\d+)`).exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

async function startApi(workDir) {
  const credsFile = path.join(workDir, 'credentials.json');
  const env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    TMPDIR: path.join(workDir, 'tmp'),
    CATTY_DATA_DIR: path.join(workDir, 'data'),
    CATTY_API_LISTEN: '127.0.0.1:0',
    CATTY_PROVISIONER: 'local',
    CATTY_MAX_SESSIONS_PER_USER: String(sessionCount + 5),
    CATTY_LOG_LEVEL: 'warn',
    CATTY_RUNTIME_ENV: JSON.stringify({ CATTY_SNAPSHOT_INTERVAL_MS: '15000' }),
  };
  const proc = spawn(process.execPath, [API_BIN, '--local-credentials', credsFile], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (d) => (stderr = (stderr + d.toString()).slice(-20_000)));
  proc.stdout.resume();
  const exited = new Promise((resolve) => proc.once('exit', resolve));
  const deadline = Date.now() + 60_000;
  while (!fs.existsSync(credsFile)) {
    if (proc.exitCode !== null) throw new Error(`catty-api exited: ${stderr}`);
    if (Date.now() > deadline) throw new Error('catty-api did not start');
    await sleep(100);
  }
  await sleep(200);
  const creds = JSON.parse(fs.readFileSync(credsFile, 'utf8'));
  // The contract's typed client, as built (the soak runs against dist/).
  const client = createApiClient({ baseUrl: creds.apiUrl, transport: fetch, token: () => creds.accessToken });
  return { proc, exited, client, stderr: () => stderr };
}

/** Downloads and extracts the latest snapshot; returns its files (path → content) or a problem. */
/** POSTs the zip to the session's runtime (through its Unix socket when it has one). */
function postUpload(s, body) {
  return new Promise((resolve, reject) => {
    const req = http.request(`${s.connectUrl}${RuntimePath.upload}`, {
      method: 'POST',
      socketPath: s.socketPath,
      headers: { authorization: `Bearer ${s.connectToken}`, 'content-type': 'application/zip', 'content-length': body.length },
    }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function finalSnapshot(client, label, workDir) {
  const info = await client.call(routes.download, { params: { ref: label } });
  const body = Buffer.from(await (await fetch(info.url)).arrayBuffer());
  if (createHash('sha256').update(body).digest('hex') !== info.sha256) return { problem: 'snapshot sha256 mismatch' };
  const dir = fs.mkdtempSync(path.join(workDir, 'snap-'));
  fs.writeFileSync(path.join(dir, 'snap.tar.gz'), body);
  fs.mkdirSync(path.join(dir, 'out'));
  await tar.x({ file: path.join(dir, 'snap.tar.gz'), cwd: path.join(dir, 'out') });
  const files = new Map();
  const walk = (d, rel) => {
    for (const name of fs.readdirSync(d)) {
      const p = path.join(d, name);
      const r = rel ? `${rel}/${name}` : name;
      if (fs.statSync(p).isDirectory()) walk(p, r);
      else files.set(r, fs.readFileSync(p, 'utf8'));
    }
  };
  walk(path.join(dir, 'out'), '');
  return { files, bytes: body.length };
}

function compareFiles(what, got, want, problems) {
  for (const [p, content] of want) if (got.get(p) !== content) problems.push(`${what}: ${p} is ${JSON.stringify(got.get(p))}, want ${JSON.stringify(content)}`);
  for (const p of got.keys()) if (!want.has(p)) problems.push(`${what}: unexpected ${p}`);
}

async function main() {
  const seed = Number(process.env.CATTY_SOAK_SEED ?? Date.now() % 100_000);
  const random = rng(seed);
  // ~0.1 s per tick plus the loop's own time under load: sized to end near the deadline.
  const ticks = Math.max(TICKS_MIN, Math.round(minutes * 60 * 7));
  log(`${sessionCount} sessions, ${minutes} min, ${ticks} ticks per agent, seed ${seed}`);
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'catty-soak-'));
  fs.mkdirSync(path.join(workDir, 'tmp'));
  fs.mkdirSync(path.join(workDir, 'snaps'));
  const problems = [];
  let api;
  try {
    api = await startApi(workDir);
  } catch (err) {
    fs.rmSync(workDir, { recursive: true, force: true });
    throw err;
  }
  const census = new Census(api.proc.pid, path.join(workDir, 'tmp'));
  census.sample();
  const clients = [];
  const sessions = [];
  let apiPeakKiB = 0;
  const runtimePeakKiB = new Map();
  try {
    for (let sid = 0; sid < sessionCount; sid++) {
      const s = await api.client.call(routes.createSession, { body: { cmd: agentScript(sid, ticks) } });
      const up = await postUpload(s, await zipOf(UPLOADED));
      if (up.status !== 200) throw new Error(`upload to session ${sid}: ${up.status} ${up.text}`);
      const machine = JSON.parse(fs.readFileSync(path.join(workDir, 'data', 'machines', s.id, 'machine.json'), 'utf8'));
      sessions.push({ ...s, sid, runtimePid: machine.runtimePid });
      const client = new SoakClient({ sid, connectUrl: s.connectUrl, socketPath: s.socketPath, token: s.connectToken, ticks, random });
      clients.push(client);
      client.start();
      census.sample();
    }
    log(`started ${sessions.length} sessions`);
    const total = expectedOutputBytes(ticks);
    const deadline = Date.now() + minutes * 60_000 * 1.6 + 60_000;
    let lastReport = 0;
    while (clients.some((c) => c.have < total)) {
      census.sample();
      if (process.env.SOAK_TRACE_RSS) log(`trace: runtime 0 VmRSS ${statusKiB(sessions[0].runtimePid, 'VmRSS')} VmHWM ${statusKiB(sessions[0].runtimePid, 'VmHWM')}`);
      apiPeakKiB = Math.max(apiPeakKiB, statusKiB(api.proc.pid, 'VmHWM'));
      for (const s of sessions) runtimePeakKiB.set(s.sid, Math.max(runtimePeakKiB.get(s.sid) ?? 0, statusKiB(s.runtimePid, 'VmHWM')));
      if (Date.now() - lastReport > 30_000) {
        lastReport = Date.now();
        const bytes = clients.reduce((n, c) => n + c.have, 0);
        log(`${(bytes / 1e6).toFixed(1)}/${((total * clients.length) / 1e6).toFixed(1)} MB delivered, ${clients.reduce((n, c) => n + c.reconnects, 0)} reconnects, API VmHWM ${apiPeakKiB} KiB, runtime max ${Math.max(...runtimePeakKiB.values())} KiB`);
      }
      if (Date.now() > deadline) {
        problems.push(`output incomplete at the deadline: ${clients.filter((c) => c.have < total).map((c) => `${c.sid}:${c.have}/${total}`).join(' ')}`);
        break;
      }
      await sleep(500);
    }
    // Everything synced: the clients' trees converge on what the agents left.
    await Promise.all(clients.map((c) => c.settle()));
    const syncDeadline = Date.now() + 30_000;
    const want = (sid) => expectedFiles(sid, ticks);
    const synced = (c) => [...want(c.sid)].every(([p, content]) => c.files.get(p) === content) && [...c.files.keys()].every((p) => want(c.sid).has(p));
    while (!clients.every(synced) && Date.now() < syncDeadline) await sleep(200);
    for (const c of clients) compareFiles(`synced files of session ${c.sid}`, c.files, want(c.sid), problems);
    apiPeakKiB = Math.max(apiPeakKiB, statusKiB(api.proc.pid, 'VmHWM'));
    for (const s of sessions) runtimePeakKiB.set(s.sid, Math.max(runtimePeakKiB.get(s.sid) ?? 0, statusKiB(s.runtimePid, 'VmHWM')));
    // Stop every session (final snapshot), then compare the snapshot with the expected tree.
    for (const c of clients) c.stop();
    let snapshotBytes = 0;
    for (const s of sessions) {
      await api.client.call(routes.stop, { params: { ref: s.label } });
      const expected = new Map([...UPLOADED, ...want(s.sid)]);
      let snap = null;
      const snapDeadline = Date.now() + 30_000;
      for (;;) {
        snap = await finalSnapshot(api.client, s.label, path.join(workDir, 'snaps'));
        const diffs = [];
        if (!snap.problem) compareFiles('', snap.files, expected, diffs);
        if ((!snap.problem && diffs.length === 0) || Date.now() > snapDeadline) break;
        await sleep(500);
      }
      if (snap.problem) problems.push(`session ${s.sid}: ${snap.problem}`);
      else {
        snapshotBytes += snap.bytes;
        compareFiles(`final snapshot of session ${s.sid}`, snap.files, expected, problems);
      }
    }
    for (const c of clients) problems.push(...c.problems);
    if (apiPeakKiB > API_RSS_LIMIT_KIB) problems.push(`API peak RSS ${apiPeakKiB} KiB > ${API_RSS_LIMIT_KIB} KiB`);
    for (const [sid, kib] of runtimePeakKiB) if (kib > RUNTIME_RSS_LIMIT_KIB) problems.push(`runtime of session ${sid}: peak RSS ${kib} KiB > ${RUNTIME_RSS_LIMIT_KIB} KiB`);
    const summary = {
      sessions: sessions.length,
      minutes,
      seed,
      outputBytes: clients.reduce((n, c) => n + c.have, 0),
      reconnects: clients.reduce((n, c) => n + c.reconnects, 0),
      cutsAndCloses: clients.reduce((n, c) => n + c.cuts, 0),
      fileMessages: clients.reduce((n, c) => n + c.fileMessages, 0),
      filesAtEnd: clients.reduce((n, c) => n + c.files.size, 0),
      snapshotBytes,
      apiPeakRssMiB: +(apiPeakKiB / 1024).toFixed(1),
      runtimePeakRssMiB: +(Math.max(...runtimePeakKiB.values()) / 1024).toFixed(1),
    };
    return { summary, problems };
  } finally {
    for (const c of clients) c.stop();
    census.sample();
    api.proc.kill('SIGTERM');
    await Promise.race([api.exited, sleep(15_000)]);
    if (api.proc.exitCode === null && api.proc.signalCode === null) api.proc.kill('SIGKILL');
    // Leaks: give stopped machines a moment to go, then ask the census.
    let left = census.leaks();
    for (let i = 0; i < 40 && left.processes.length + left.sockets.length > 0; i++) {
      await sleep(500);
      left = census.leaks();
    }
    if (left.processes.length) problems.push(`leaked processes: ${left.processes.join('; ')}`);
    if (left.sockets.length) problems.push(`leaked listening sockets: ${left.sockets.join(', ')}`);
    if (left.tmp.length) problems.push(`leaked temp entries in the API's TMPDIR: ${left.tmp.join(', ')}`);
    fs.rmSync(workDir, { recursive: true, force: true });
    const globalTmp = census.leaks().globalTmp;
    if (globalTmp.length && process.env.CI === 'true') problems.push(`new entries in ${os.tmpdir()}: ${globalTmp.join(', ')}`);
    else if (globalTmp.length) log(`note: ${globalTmp.length} new entries in ${os.tmpdir()} during the run, not from this run's processes (which used a private TMPDIR); other work on this machine: ${globalTmp.slice(0, 8).join(', ')}`);
    log(`census: ${census.seen.size} processes and ${census.ports.size} listening ports seen from this run; none left`);
  }
}

const TICKS_MIN = 200;
const { summary, problems } = await main();
console.log(`\nsoak summary: ${JSON.stringify(summary, null, 2)}`);
if (problems.length) {
  console.log(`\nsoak FAILED with ${problems.length} problem(s):\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log('\nsoak passed: no loss, memory within bounds, nothing leaked');
