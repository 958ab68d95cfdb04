/**
 * `catty resume` and `catty fork` through the built binaries (issue 23, items 2–4): the embedded
 * local control plane, real bubblewrap machines, snapshots in its embedded storage. A session's
 * agent (a shell script that travels with the project) counts its runs in the workspace and
 * leaves a file; stopped and resumed, the new machine's agent finds both — with new tokens, the
 * old connect and machine tokens refused (SECURITY.md 27) — and the marker it left in its home
 * where Claude Code keeps its transcripts (kept as its own object, without the credential beside
 * it, and out of `catty download`). A newest snapshot tampered with in
 * storage is refused, naming --snapshot previous, and the previous one starts. Two forks of one
 * session each keep their own files.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { routes } from '../../api/contract/routes.js';
import { LocalCredentials } from '../../api/contract/schemas.js';
import { testClient } from '../helpers/api.js';
import { PtyProcess } from '../helpers/pty.js';
import { processTree } from '../helpers/leak-scan.js';
import { tempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/wait.js';
import { runCatty } from './harness.js';

const AGENT = `#!/bin/sh
# Counts the runs before this one, reports what an earlier machine left, leaves its own mark.
n=$(cat runs.txt 2>/dev/null | wc -l | tr -d ' ')
echo run >> runs.txt
echo "PREVIOUS_RUNS=$n"
[ -f made.txt ] && echo "FOUND=$(cat made.txt)"
[ -f "$HOME/.claude/projects/-workspace/marker.txt" ] && echo "HOME_FOUND=$(cat "$HOME/.claude/projects/-workspace/marker.txt")"
if [ "$n" = 0 ]; then
  echo from-the-first-machine > made.txt
  # The agent's own state (where Claude Code keeps its transcripts), and a credential beside it.
  mkdir -p "$HOME/.claude/projects/-workspace"
  echo conversation-1 > "$HOME/.claude/projects/-workspace/marker.txt"
  echo credential-canary > "$HOME/.claude/.credentials.json"
fi
mark=$(od -An -N6 -tx1 /dev/urandom | tr -d ' \\n')
echo "$mark" > "mark-$mark.txt"
echo "MARK=$mark"
exec sleep 600
`;

let home: string;
let project: string;
let env: NodeJS.ProcessEnv;
let dataDir: string;

beforeAll(() => {
  home = tempDir('home');
  project = tempDir('project');
  env = { PATH: process.env.PATH, HOME: home, CATTY_HOME: path.join(home, '.catty'), TERM: 'xterm-256color', LANG: 'C.UTF-8' };
  dataDir = path.join(home, '.catty', 'local', 'data');
  fs.writeFileSync(path.join(project, 'README.md'), '# resumable\n');
  fs.mkdirSync(path.join(project, 'tools'));
  fs.writeFileSync(path.join(project, 'tools/agent.sh'), AGENT);
});

afterAll(async () => {
  await runCatty(['server', 'stop'], { cwd: project, env }).catch(() => undefined);
});

const catty = (args: string[], cwd = project) => runCatty(args, { cwd, env, timeoutMs: 90_000 });

async function ok(args: string[], cwd = project): Promise<string> {
  const result = await catty(args, cwd);
  expect(result.code, `catty ${args.join(' ')}: ${result.stderr}`).toBe(0);
  return result.stdout;
}

interface Listed {
  label: string;
  status: string;
  resumable: boolean;
}
async function listed(label: string): Promise<Listed | undefined> {
  return (JSON.parse(await ok(['list', '--json'])) as Listed[]).find((s) => s.label === label);
}

async function logsOf(label: string): Promise<string> {
  const result = await catty(['logs', label]);
  return result.stdout;
}

function api() {
  const creds = LocalCredentials.parse(JSON.parse(fs.readFileSync(path.join(home, '.catty', 'local', 'credentials.json'), 'utf8')));
  return { url: creds.apiUrl, client: testClient(creds.apiUrl, creds.accessToken) };
}

/**
 * The machine tokens a session machine's processes hold: the runtime reads its token from the
 * launcher's stdin (never its environment), so its memory is read from the host, as root could.
 */
function machineTokensOf(sessionId: string): Set<string> {
  const record = JSON.parse(fs.readFileSync(path.join(dataDir, 'machines', sessionId, 'machine.json'), 'utf8')) as { pid: number };
  const tokens = new Set<string>();
  for (const pid of processTree(record.pid)) {
    let maps = '';
    let fd: number;
    try {
      maps = fs.readFileSync(`/proc/${pid}/maps`, 'utf8');
      fd = fs.openSync(`/proc/${pid}/mem`, 'r');
    } catch {
      continue;
    }
    try {
      for (const line of maps.split('\n')) {
        const m = /^([0-9a-f]+)-([0-9a-f]+) rw/.exec(line);
        if (!m) continue;
        const start = BigInt(`0x${m[1]}`);
        const size = Number(BigInt(`0x${m[2]}`) - start);
        if (size > 512 * 1024 * 1024) continue;
        const buffer = Buffer.alloc(size);
        try {
          fs.readSync(fd, buffer, 0, size, start);
        } catch {
          continue;
        }
        for (const found of buffer.toString('latin1').matchAll(/cat_mt_[A-Za-z0-9_-]{43}/g)) tokens.add(found[0]);
      }
    } finally {
      fs.closeSync(fd);
    }
  }
  return tokens;
}

/** The one of `candidates` the API takes as a machine token now, or null. */
async function liveMachineToken(url: string, candidates: Set<string>): Promise<string | null> {
  for (const token of candidates) if ((await heartbeatStatus(url, token)) === 200) return token;
  return null;
}

/** The entry names of a stored tar.gz (read with the system's tar). */
function tarNames(file: string): string[] {
  const listed = spawnSync('tar', ['-tzf', file], { encoding: 'utf8' });
  if (listed.status !== 0) throw new Error(`tar -tzf failed: ${listed.stderr}`);
  return listed.stdout.split('\n').filter(Boolean).map((name) => name.replace(/^\.\//, '').replace(/\/$/, ''));
}

/** GET /logs on a runtime through its Unix socket with `token`: the status. */
function runtimeStatus(socketPath: string, token: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, path: '/logs', headers: { authorization: `Bearer ${token}`, host: 'runtime' } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

async function heartbeatStatus(url: string, machineToken: string): Promise<number> {
  const res = await fetch(new URL(routes.heartbeat.path, url), { method: 'POST', headers: { authorization: `Bearer ${machineToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ clients: 0, idleMs: 0 }) });
  return res.status;
}

/** The stored objects of a session's workspace snapshots (or, `agent`, of its agent state parts),
 * newest last (s3rver keeps one file per object). */
function storedSnapshots(sessionId: string, part: 'workspace' | 'agent' = 'workspace'): string[] {
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const abs = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(abs);
      else if (abs.includes(sessionId) && entry.name.endsWith('._S3rver_object') && entry.name.includes('.agent.tar.gz') === (part === 'agent')) found.push(abs);
    }
  };
  walk(path.join(dataDir, 's3'));
  return found.sort();
}

/** Gone, or a zombie not yet reaped (read once: it may be reaped between two reads). */
function deadOrZombie(pid: number): boolean {
  try {
    return fs.readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ');
  } catch {
    return true;
  }
}

describe('catty resume and catty fork', { timeout: 120_000 }, () => {
  let label = '';
  let sessionId = '';

  it('resumes a stopped session on a new machine with new tokens; the agent finds its files', async () => {
    label = (await ok(['new', '--detach', '--no-secrets', '--cmd', 'sh tools/agent.sh'])).trim();
    await waitFor(async () => (await logsOf(label)).includes('PREVIOUS_RUNS=0'), 'the first run', { timeoutMs: 30_000 });
    const { url, client } = api();
    const first = await client.call(routes.connect, { params: { ref: label } });
    sessionId = (await client.call(routes.getSession, { params: { ref: label } })).id;
    const oldMachineTokens = machineTokensOf(sessionId);
    const oldMachineToken = await liveMachineToken(url, oldMachineTokens);
    expect(oldMachineToken).not.toBeNull();
    expect((await listed(label))?.resumable).toBe(false);

    await ok(['stop', label]);
    expect(await listed(label)).toMatchObject({ status: 'stopped', resumable: true });
    expect(await ok(['list'])).toMatch(new RegExp(`^${label}\\s+stopped \\(resumable\\)`, 'm'));

    const resumed = await catty(['resume', label, '--detach', '--no-secrets']);
    expect(resumed.code, `${resumed.stderr}\n${fs.readFileSync(path.join(home, '.catty', 'local', 'api.log'), 'utf8').slice(-3000)}`).toBe(0);
    expect(resumed.stdout.trim()).toBe(label);
    expect(resumed.stderr).toContain('resumed from its snapshot');
    await waitFor(async () => /PREVIOUS_RUNS=1[\s\S]*FOUND=from-the-first-machine[\s\S]*HOME_FOUND=conversation-1/.test(await logsOf(label)), 'the resumed run', { timeoutMs: 30_000 });
    // The agent's state is its own object beside the workspace's: the transcript, never the credential.
    const agentParts = storedSnapshots(sessionId, 'agent');
    expect(agentParts.length).toBeGreaterThan(0);
    for (const part of agentParts) {
      expect(tarNames(part)).toContain('-workspace/marker.txt');
      const tar = zlib.gunzipSync(fs.readFileSync(part));
      expect(tar.includes('conversation-1')).toBe(true);
      expect(tar.includes('credential-canary')).toBe(false);
    }
    for (const snapshot of storedSnapshots(sessionId)) expect(tarNames(snapshot).filter((name) => name.includes('marker.txt') || name.includes('.claude'))).toEqual([]);
    expect(await listed(label)).toMatchObject({ status: 'running', resumable: false });
    // The same session, not a new one; the local record kept.
    expect((await client.call(routes.getSession, { params: { ref: label } })).id).toBe(sessionId);

    // New tokens; the old ones stay dead (SECURITY.md 27).
    const second = await client.call(routes.connect, { params: { ref: label } });
    expect(second.connectToken).not.toBe(first.connectToken);
    expect(second.socketPath).toBeDefined();
    expect(await runtimeStatus(second.socketPath!, second.connectToken)).toBe(200);
    expect(await runtimeStatus(second.socketPath!, first.connectToken)).toBe(401);
    const newMachineToken = await liveMachineToken(url, machineTokensOf(sessionId));
    expect(newMachineToken).not.toBeNull();
    expect(newMachineToken).not.toBe(oldMachineToken);
    for (const old of oldMachineTokens) expect(await heartbeatStatus(url, old)).toBe(401);

    // Resuming a running session attaches to it (here: --detach, so only says so).
    const again = await catty(['resume', label, '--detach', '--no-secrets']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain('is running');
  });

  it('refuses a newest snapshot that fails its checksum and starts from the previous one when told', async () => {
    await ok(['stop', label]);
    const stored = storedSnapshots(sessionId);
    expect(stored.length).toBeGreaterThanOrEqual(2);
    // One byte of the newest object flipped, as a storage fault or an attacker would.
    const newest = stored.at(-1)!;
    const original = fs.readFileSync(newest);
    const bytes = Buffer.from(original);
    const middle = bytes.length >> 1;
    bytes[middle] = bytes[middle]! ^ 0xff;
    fs.writeFileSync(newest, bytes);

    const refused = await catty(['resume', label, '--detach', '--no-secrets']);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/newest snapshot .* fails its checksum and was not used/);
    expect(refused.stderr).toContain('--snapshot previous');
    expect((await listed(label))?.status).toBe('stopped');

    // On a terminal it asks; no starts nothing.
    const asked = PtyProcess.catty(['resume', label, '--detach', '--no-secrets'], { cwd: project, env });
    await asked.waitForScreen('Start from the previous snapshot? [y/N]', 60_000);
    asked.write('n');
    expect(await asked.waitForExit()).not.toBe(0);
    expect((await listed(label))?.status).toBe('stopped');

    const previous = await catty(['resume', label, '--detach', '--no-secrets', '--snapshot', 'previous']);
    expect(previous.code, previous.stderr).toBe(0);
    await waitFor(async () => /FOUND=from-the-first-machine[\s\S]*MARK=/.test(await logsOf(label)), 'the run from the previous snapshot', { timeoutMs: 30_000 });

    // Once more, with yes on the terminal: the one tampered with is mended (it is the previous
    // one now) and the newest, from this run, is tampered with instead.
    await ok(['stop', label]);
    fs.writeFileSync(newest, original);
    const latest = storedSnapshots(sessionId).at(-1)!;
    expect(latest).not.toBe(newest);
    fs.writeFileSync(latest, Buffer.concat([fs.readFileSync(latest), Buffer.from('trailing')]));
    const yes = PtyProcess.catty(['resume', label, '--detach', '--no-secrets'], { cwd: project, env });
    await yes.waitForScreen('Start from the previous snapshot? [y/N]', 60_000);
    yes.write('y');
    expect(await yes.waitForExit()).toBe(0);
    expect((await listed(label))?.status).toBe('running');
    await waitFor(async () => /PREVIOUS_RUNS=2/.test(await logsOf(label)), "the run from the mended snapshot (the first resumed run's)", { timeoutMs: 30_000 });
  });

  it('forks a running session twice; each fork keeps its own files', async () => {
    const forks = ['try-one', 'try-two'];
    for (const fork of forks) {
      const result = await catty(['fork', label, '--label', fork, '--detach', '--no-secrets']);
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout.trim()).toBe(fork);
    }
    const marks = new Map<string, string>();
    for (const fork of forks) {
      await waitFor(async () => {
        const found = /FOUND=from-the-first-machine[\s\S]*MARK=([0-9a-f]{12})/.exec(await logsOf(fork));
        if (found) marks.set(fork, found[1]!);
        return found !== null;
      }, `${fork} to run`, { timeoutMs: 30_000 });
    }
    for (const fork of forks) await ok(['stop', fork]);
    const trees = new Map<string, string[]>();
    for (const fork of forks) {
      const dest = path.join(home, `dl-${fork}`);
      await ok(['download', fork, dest]);
      trees.set(fork, fs.readdirSync(dest).sort());
      // `catty download` is the workspace only: none of the agent's state.
      expect(fs.readdirSync(dest)).not.toContain('.claude');
      expect(fs.readFileSync(path.join(dest, 'made.txt'), 'utf8')).toBe('from-the-first-machine\n');
    }
    const [one, two] = forks.map((f) => trees.get(f)!);
    expect(one).toContain(`mark-${marks.get('try-one')}.txt`);
    expect(one).not.toContain(`mark-${marks.get('try-two')}.txt`);
    expect(two).toContain(`mark-${marks.get('try-two')}.txt`);
    expect(two).not.toContain(`mark-${marks.get('try-one')}.txt`);
    // The fork's record points at the directory it was started in.
    const record = JSON.parse(fs.readFileSync(path.join(home, '.catty', 'sessions', 'try-one.json'), 'utf8')) as { localDir: string };
    expect(record.localDir).toBe(project);
    await ok(['stop', label]);
  });

  it('resumes a lost session: its machine killed while the API still counts it running', async () => {
    await ok(['resume', label, '--detach', '--no-secrets']);
    await waitFor(async () => /MARK=/.test(await logsOf(label)), 'the resumed run', { timeoutMs: 30_000 });
    const record = JSON.parse(fs.readFileSync(path.join(dataDir, 'machines', sessionId, 'machine.json'), 'utf8')) as { pid: number };
    const pids = processTree(record.pid);
    for (const pid of pids) process.kill(pid, 'SIGKILL');
    await waitFor(() => pids.every(deadOrZombie), 'the machine to die');
    const resumed = await catty(['resume', label, '--detach', '--no-secrets']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toContain('resumed from its snapshot');
    await waitFor(async () => /MARK=/.test(await logsOf(label)), 'the run after the lost one', { timeoutMs: 30_000 });
    expect((await listed(label))?.status).toBe('running');
    await ok(['stop', label]);
  });
});
