/**
 * The model key outlives an API restart (issue 20, Tests: "the API restarted mid-session → the
 * agent's next model call still carries the key"), end to end and as a user meets it: real
 * Claude Code in a bubblewrap session started by `catty new` (the local control plane), its
 * model calls through catty-node's egress proxy to the scripted Messages API on this host's
 * loopback (the user's ANTHROPIC_BASE_URL secret), with an ANTHROPIC_API_KEY secret.
 *
 * The control plane is SIGKILLed mid-session while catty-node keeps running; the user reconnects
 * (`catty connect`, which starts the control plane again on the same data dir) and the next
 * prompt reaches the scripted model with the real key — which the API never wrote anywhere to
 * get there: it is in no file under $CATTY_HOME/local (data dir, log, credentials). Then the
 * contrast: catty-node killed too while the API is down — the next model call is answered by the
 * proxy's 401 naming lost credentials, which Claude Code shows, and the model sees nothing.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bwrapProblem, findBwrap } from '../../api/provisioners/bwrap.js';
import { killMachines, nodePid } from '../helpers/api.js';
import { startFakeAnthropic, type FakeAnthropic } from '../helpers/fake-anthropic.js';
import { PtyProcess } from '../helpers/pty.js';
import { tempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/wait.js';
import { filesContaining, runCatty } from './harness.js';

const KEY = 'sk-ant-api03-e2e-key-kept-by-catty-node-across-restarts-7';
const bwrap = findBwrap();
const why = !bwrap ? 'bubblewrap (bwrap) is not installed' : bwrapProblem(bwrap);
if (why) console.log(`[real-claude-api-restart] skipped: ${why}`);

let home: string;
let project: string;
let localDir: string;
let dataDir: string;
let env: NodeJS.ProcessEnv;
let fake: FakeAnthropic;
let label: string;

/** The pid of the local control plane (`catty server status`), null when none runs. */
async function apiPid(): Promise<number | null> {
  const status = JSON.parse((await runCatty(['server', 'status', '--json'], { cwd: project, env })).stdout) as { running: boolean; pid?: number };
  return status.running ? status.pid! : null;
}

/** SIGKILLs `pid` and waits until it is gone (or a zombie: it holds nothing any more). */
async function killHard(pid: number, what: string): Promise<void> {
  process.kill(pid, 'SIGKILL');
  await waitFor(() => {
    try {
      return /^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
    } catch {
      return true;
    }
  }, `${what} (pid ${pid}) to die`);
}

/** The numbers of the scripted answers the screen shows (`scripted answer number N`). */
const answersOn = (screen: string): number[] => [...screen.matchAll(/scripted answer number (\d+)/g)].map((m) => Number(m[1]));

/** The x-api-key of every POST /v1/messages the scripted model got from index `from` on. */
const messageKeys = (from = 0): Array<string | string[] | undefined> =>
  fake.requests.flatMap((route, i) => (i >= from && route === 'POST /v1/messages' ? [fake.headers[i]!['x-api-key']] : []));

/** Types a prompt into Claude Code and sends it. */
async function ask(session: PtyProcess, prompt: string): Promise<void> {
  session.write(prompt);
  await session.waitForScreen(prompt);
  session.write('\r');
}

/** Detaches a terminal from the session (Ctrl-]): the session keeps running. */
async function detach(session: PtyProcess): Promise<void> {
  session.write('\x1d');
  expect(await session.waitForExit(15_000)).toBe(0);
  expect(session.output()).toContain(`[detached from ${label}`);
}

beforeAll(async () => {
  home = tempDir('claude-restart-home');
  project = tempDir('claude-restart-project');
  env = { PATH: process.env.PATH, HOME: home, CATTY_HOME: path.join(home, '.catty'), CATTY_LOCAL_SANDBOX: 'bwrap', TERM: 'xterm-256color', LANG: 'C.UTF-8' };
  localDir = path.join(home, '.catty', 'local');
  dataDir = path.join(localDir, 'data');
  fs.writeFileSync(path.join(project, 'hello.py'), 'print("hello")\n');
  fake = await startFakeAnthropic((n) => `scripted answer number ${n}`);
});

afterAll(async () => {
  await runCatty(['server', 'stop'], { cwd: project, env }).catch(() => undefined);
  // The session's machine and catty-node outlive a stopped control plane: end them too.
  if (dataDir) killMachines(dataDir);
  await fake?.close();
});

describe.skipIf(why !== null)('real Claude Code across a restart of the control plane', () => {
  it('the API SIGKILLed mid-session, catty-node kept: after `catty connect` the next prompt reaches the model with the real key, which the API wrote nowhere', async () => {
    for (const [name, value] of [['ANTHROPIC_API_KEY', KEY], ['ANTHROPIC_BASE_URL', fake.url]] as const) {
      const set = await runCatty(['secrets', 'set', name], { cwd: project, env, input: value });
      expect(set.code, set.stderr).toBe(0);
    }
    const first = PtyProcess.catty(['new', '--net', 'none'], { cwd: project, env, cols: 100, rows: 30 });
    await first.waitForScreen(/Claude Code v\d+\.\d+/, 60_000);
    await ask(first, 'say hi');
    const answered = await first.waitForScreen(/scripted answer number \d/, 60_000);
    expect(answered).not.toMatch(/API Error|Invalid API key|Not logged in/i);
    expect(messageKeys().length).toBeGreaterThan(0);
    expect(new Set(messageKeys())).toEqual(new Set([KEY]));
    label = (JSON.parse((await runCatty(['list', '--json'], { cwd: project, env })).stdout) as Array<{ label: string }>)[0]!.label;

    const oldApi = (await apiPid())!;
    const node = nodePid(dataDir);
    expect(oldApi).toBeGreaterThan(0);
    expect(node).not.toBeNull();
    await killHard(oldApi, 'catty-api');
    expect(nodePid(dataDir)).toBe(node);
    // The terminal goes straight to the runtime's socket; the user closes it and reconnects,
    // which starts the control plane again on the same data dir.
    await detach(first);

    const before = fake.requests.length;
    const highest = Math.max(...answersOn(await first.screen()));
    const second = PtyProcess.catty(['connect', label], { cwd: project, env, cols: 100, rows: 30 });
    await second.waitForScreen(/Claude Code v\d+\.\d+|scripted answer number/, 30_000);
    const newApi = await apiPid();
    expect(newApi).not.toBeNull();
    expect(newApi).not.toBe(oldApi);
    expect(nodePid(dataDir)).toBe(node);
    // The restarted API could not have read the key back from disk: it is on none.
    expect(filesContaining(localDir, KEY)).toEqual([]);

    await ask(second, 'say it again');
    let screen = '';
    const again = await waitFor(async () => {
      screen = await second.screen();
      return answersOn(screen).some((n) => n > highest) && screen;
    }, () => `an answer after number ${highest} on the screen\n--- screen ---\n${screen}`, { timeoutMs: 60_000, everyMs: 50 });
    expect(again).not.toMatch(/API Error|Invalid API key|Not logged in|no model credentials/i);
    expect(messageKeys(before).length).toBeGreaterThan(0);
    expect(new Set(messageKeys(before))).toEqual(new Set([KEY]));
    expect(JSON.stringify(fake.headers)).not.toContain('catty-placeholder');
    await detach(second);
    expect(filesContaining(localDir, KEY)).toEqual([]);
  }, 120_000);

  it('catty-node killed too while the API is down: the next model call gets the proxy\'s 401 naming lost credentials, which Claude Code shows; the model sees nothing', async () => {
    expect(label, 'the first test started the session').toBeDefined();
    const oldNode = nodePid(dataDir)!;
    await killHard((await apiPid())!, 'catty-api');
    await killHard(oldNode, 'catty-node');

    const third = PtyProcess.catty(['connect', label], { cwd: project, env, cols: 100, rows: 30 });
    await third.waitForScreen(/Claude Code v\d+\.\d+|scripted answer number/, 30_000);
    const node = await waitFor(() => {
      const pid = nodePid(dataDir);
      return pid !== null && pid !== oldNode && pid;
    }, 'a new catty-node');
    expect(node).not.toBe(oldNode);
    const before = fake.requests.length;
    await ask(third, 'and once more');
    // Claude Code shows the proxy's reason (wrapped as the screen's width wraps it).
    const shown = await third.waitForScreen(/no\s+model\s+credentials/, 30_000);
    expect(shown).toMatch(/lost\s+them\s+in\s+a\s+restart/);
    expect(shown).toMatch(/start\s+a\s+new\s+session/);
    expect(fake.requests.length).toBe(before);
    expect(fs.readFileSync(path.join(localDir, 'api.log'), 'utf8')).toMatch(/credentials are gone/);

    third.write('\x15');
    third.write('/exit');
    await third.waitForScreen('Exit the CLI');
    third.write('\r');
    expect(await third.waitForExit(30_000)).toBe(0);
  }, 120_000);
});
