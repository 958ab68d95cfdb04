// P7 — scale: 20 concurrent sessions on the local provisioner, each agent printing 100 KB/s to
// an attached `catty connect`; meanwhile a 21st session measures keystroke echo through the
// CLI (p99 ≤ 50 ms), the API answers `GET /v1/sessions` (p99 ≤ 50 ms), and an idle session's
// runtime RSS is read from /proc (≤ 60 MB).
// Every CLI and the list client lead a session of their own (setsid), as each would in its own
// terminal: where the kernel schedules sessions as groups (autogroups), 20 CLIs sharing one
// group with this bench and the list client starved them in a way no real desk does.
import fs from 'node:fs';
import path from 'node:path';
import { routes } from '../../dist/api/contract/routes.js';
import { attached, cpuSeconds, listLatencies, nowMs, quantile, rssMb, stopAll, waitFor } from './lib.mjs';

const SESSIONS = 20;
// 1 KiB every 10 ms = 100 KB/s.
const CHATTY = `node -e "const l='y'.repeat(1023)+'\\\\n'; setInterval(() => process.stdout.write(l), 10)"`;
const ECHO = "stty raw -echo; printf 'ECHO-READY'; cat";
/** An echo slower than this is lost (the bench fails instead of waiting forever). */
const ECHO_TIMEOUT_MS = 10_000;

async function detachedSession(installation, cmd) {
  const created = await installation.catty(['new', '--detach', '--no-upload', '--no-sync-back', '--cmd', cmd]);
  if (created.code !== 0) throw new Error(`catty new failed: ${created.stderr}`);
  return created.stdout.trim().split('\n').pop();
}


async function echoSamples(installation, label, count) {
  const session = attached(['connect', label, '--no-sync-back'], { cwd: installation.home, env: installation.env, ownSession: true });
  let seen = '';
  let pending = null;
  session.child.stdout.on('data', (d) => {
    seen += d.toString('latin1');
    if (pending && d.includes(0x61)) {
      const p = pending;
      pending = null;
      p(nowMs());
    }
  });
  await waitFor('P7', () => (seen.includes('ECHO-READY') ? true : undefined), 30_000);
  const latencies = [];
  for (let i = 0; i < count; i++) {
    let timer;
    const back = new Promise((resolve, reject) => {
      pending = resolve;
      timer = setTimeout(() => reject(new Error(`P7: echo ${i + 1} of ${count} did not come back within ${ECHO_TIMEOUT_MS} ms`)), ECHO_TIMEOUT_MS);
    });
    const sent = nowMs();
    session.child.stdin.write('a');
    latencies.push((await back.finally(() => clearTimeout(timer))) - sent);
  }
  session.child.stdin.write(Buffer.from([0x1d]));
  await session.exited;
  return latencies;
}

/** `GET /v1/sessions` timed like another user's `catty list` (lib.mjs listLatencies). */
function listOf(installation, count) {
  const creds = JSON.parse(fs.readFileSync(path.join(installation.env.CATTY_HOME, 'local/credentials.json'), 'utf8'));
  return listLatencies(`${creds.apiUrl}${routes.listSessions.path}`, creds.accessToken, count);
}

/** Busy CPU seconds of the whole machine so far (all cores; /proc/stat, USER_HZ ticks). */
function machineBusySeconds() {
  const [, ...ticks] = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).map(Number);
  const idle = ticks[3] + ticks[4]; // idle + iowait
  return (ticks.reduce((a, b) => a + b, 0) - idle) / 100;
}

/** CPU seconds so far of each role's processes (a process that is gone counts nothing). */
function cpuByRole(roles) {
  const sum = (pids) => pids.reduce((total, pid) => {
    try {
      const { user, sys } = cpuSeconds(pid);
      return total + user + sys;
    } catch {
      return total;
    }
  }, 0);
  const usage = process.cpuUsage();
  return { machine: machineBusySeconds(), bench: (usage.user + usage.system) / 1e6, ...Object.fromEntries(Object.entries(roles).map(([role, pids]) => [role, sum(pids)])) };
}

/**
 * Where the machine's CPU went while echo and list were measured, in cores (CPU-s per second):
 * the API, the 20 busy runtimes, their 20 CLIs, this bench process (reading the CLIs' output),
 * and the rest (the agents themselves, the sandbox, the kernel).
 */
function coresUsed(before, after, seconds) {
  const cores = Object.fromEntries(Object.keys(after).map((k) => [k, (after[k] - before[k]) / seconds]));
  const known = cores.api + cores.runtimes + cores.clis + cores.bench;
  return { ...cores, other: cores.machine - known };
}

/** The runtime pid of each session (by label), from its local machine record. */
async function machinePids(installation, labels) {
  const listed = JSON.parse((await installation.catty(['list', '--json'])).stdout);
  return labels.map((label) => {
    const id = listed.find((s) => s.label === label).id;
    return JSON.parse(fs.readFileSync(path.join(installation.env.CATTY_HOME, 'local/data/machines', id, 'machine.json'), 'utf8')).runtimePid;
  });
}

export async function p7(installation) {
  const idle = await detachedSession(installation, 'sleep 600');
  const labels = [];
  for (let i = 0; i < SESSIONS; i++) labels.push(await detachedSession(installation, CHATTY));
  const clients = labels.map((label) => {
    const c = attached(['connect', label, '--no-sync-back'], { cwd: installation.home, env: installation.env, ownSession: true });
    let bytes = 0;
    c.child.stdout.on('data', (d) => (bytes += d.length));
    return { c, bytes: () => bytes };
  });
  await waitFor('P7', () => (clients.every((c) => c.bytes() > 10_000) ? true : undefined), 60_000);

  const echoLabel = await detachedSession(installation, ECHO);
  const creds = JSON.parse(fs.readFileSync(path.join(installation.env.CATTY_HOME, 'local/credentials.json'), 'utf8'));
  const roles = { api: [creds.pid], runtimes: await machinePids(installation, labels), clis: clients.map(({ c }) => c.child.pid) };
  const cpuBefore = cpuByRole(roles);
  const started = nowMs();
  const echo = await echoSamples(installation, echoLabel, 300);
  const list = await listOf(installation, 200);
  const cores = coresUsed(cpuBefore, cpuByRole(roles), (nowMs() - started) / 1000);
  console.error(`P7: cores busy while measuring: ${Object.entries(cores).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ')}`);

  const [idleRuntimePid] = await machinePids(installation, [idle]);
  const idleRss = rssMb(idleRuntimePid);

  for (const { c } of clients) c.child.stdin.write(Buffer.from([0x1d]));
  await Promise.all(clients.map(({ c }) => c.exited));
  await stopAll(installation);

  const echo99 = quantile(echo, 0.99);
  const list99 = quantile(list, 0.99);
  return {
    rows: [
      { metric: 'P7 echo p99 under 20 busy sessions (ms)', catty: echo99.toFixed(1), baseline: '—', ratio: '—', target: '≤ 50 ms', pass: echo99 <= 50 },
      { metric: 'P7 idle runtime RSS (MB)', catty: idleRss?.toFixed(0) ?? 'n/a', baseline: '—', ratio: '—', target: '≤ 60 MB', pass: idleRss !== null && idleRss <= 60 },
      { metric: 'P7 API list p99 (ms)', catty: list99.toFixed(1), baseline: '—', ratio: '—', target: '≤ 50 ms', pass: list99 <= 50 },
    ],
    samples: { echo, list, idleRssMb: idleRss, coresBusyWhileMeasuring: cores },
  };
}
