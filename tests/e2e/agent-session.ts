/**
 * One scenario for each agent besides Claude Code (issue 25, Tests), run by agent-codex.test.ts
 * and agent-gemini.test.ts: the real CLI in a bubblewrap session that `catty new --agent NAME`
 * starts through the local control plane, its model calls through catty-node's egress proxy to a
 * scripted fake of its API on this host's loopback (the user's base-URL secret). Without its key
 * the CLI warns before the session starts. With it, the agent opens at its prompt with no dialog
 * (its screen as `catty logs` gives it, rendered); asked to, it runs the scripted command, which
 * creates a file that syncs back to the project; the fake got the real key, the machine only a
 * placeholder: the key is in none of its processes (environment, command line, memory) nor in
 * any file of the data directory — workspace, home, logs, database, final snapshot. Resumed, it
 * is the same agent, and it continues that conversation (its state came back with the snapshot).
 */
import fs from 'node:fs';
import path from 'node:path';
import xterm from '@xterm/headless';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bwrapProblem, findBwrap } from '../../api/provisioners/bwrap.js';
import { killMachines } from '../helpers/api.js';
import type { FakeModel } from '../helpers/fake-model.js';
import { filesHolding, foundInProcess, processTree } from '../helpers/leak-scan.js';
import { PtyProcess } from '../helpers/pty.js';
import { tempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/wait.js';
import { runCatty } from './harness.js';

export interface AgentCase {
  agent: string;
  /** The key secret and the base-URL secret its module names. */
  keySecret: string;
  baseUrlSecret: string;
  key: string;
  /** Starts the scripted API: `command` is what its first turn runs. */
  startFake(command: string, text: (n: number) => string): Promise<FakeModel>;
  /** The route of its conversation's calls (`POST /responses`). */
  route: RegExp;
  /** The key as one request carried it (its header), null when absent. */
  keyOf(headers: Record<string, string | string[] | undefined>): string | null;
  /** Its prompt, on its first screen. */
  ready: RegExp;
  /** Its onboarding, trust, sign-in, update or telemetry dialogs. */
  dialogs: RegExp;
}

const COLS = 100;

/** The bytes of the files under `root`. */
function treeBytes(root: string): number {
  let total = 0;
  for (const entry of fs.readdirSync(root, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) total += fs.statSync(path.join(entry.parentPath, entry.name)).size;
  }
  return total;
}

/** Where `needle` is in these processes; one that ended meanwhile (the agent's short-lived
 * children) held nothing any more. */
function foundInProcesses(pids: number[], needle: string): string[] {
  return pids.flatMap((pid) => {
    try {
      return foundInProcess(pid, needle);
    } catch (error) {
      if (/\((ESRCH|ENOENT)\)/.test((error as Error).message)) return [];
      throw error;
    }
  });
}
const ROWS = 30;

/** What a terminal of this size shows after `bytes` (the machine's recorded output). */
async function rendered(bytes: string): Promise<string> {
  const term = new xterm.Terminal({ cols: COLS, rows: ROWS, allowProposedApi: true, scrollback: 2000 });
  await new Promise<void>((resolve) => term.write(bytes, resolve));
  const buffer = term.buffer.active;
  const lines: string[] = [];
  for (let i = 0; i < buffer.length; i++) lines.push(buffer.getLine(i)?.translateToString(true) ?? '');
  term.dispose();
  return lines.join('\n');
}

export function describeAgentSession(c: AgentCase): void {
  const bwrap = findBwrap();
  const why = !bwrap ? 'bubblewrap (bwrap) is not installed' : bwrapProblem(bwrap);
  if (why) console.log(`[agent-${c.agent}] skipped: ${why}`);
  const made = `${c.agent}-made.txt`;
  let home: string;
  let project: string;
  let dataDir: string;
  let env: NodeJS.ProcessEnv;
  let fake: FakeModel;
  let label: string | undefined;
  const catty = (args: string[], input?: string) => runCatty(args, { cwd: project, env, ...(input !== undefined ? { input } : {}) });
  const sessions = async () => JSON.parse((await catty(['list', '--json'])).stdout) as Array<{ label: string; id: string; agent: string; status: string }>;

  beforeAll(async () => {
    home = tempDir(`${c.agent}-home`);
    project = tempDir(`${c.agent}-project`);
    env = { PATH: process.env.PATH, HOME: home, CATTY_HOME: path.join(home, '.catty'), CATTY_LOCAL_SANDBOX: 'bwrap', TERM: 'xterm-256color', LANG: 'C.UTF-8' };
    dataDir = path.join(home, '.catty', 'local', 'data');
    fs.writeFileSync(path.join(project, 'hello.txt'), 'hello\n');
    fake = await c.startFake(`echo made-by-${c.agent} > ${made}`, (n) => `scripted answer number ${n}`);
  });

  afterAll(async () => {
    await runCatty(['server', 'stop'], { cwd: project, env }).catch(() => undefined);
    if (dataDir) killMachines(dataDir);
    await fake?.close();
  });

  describe.skipIf(why !== null)(`catty new --agent ${c.agent} with the real CLI`, () => {
    it('without its key: a one-line warning naming the secret before the session starts', async () => {
      const run = await catty(['new', '--agent', c.agent, '--detach', '--no-upload']);
      expect(run.code, run.stderr).toBe(0);
      const warning = run.stderr.indexOf(`catty: warning: no ${c.keySecret} secret:`);
      expect(warning, run.stderr).toBeGreaterThanOrEqual(0);
      expect(run.stderr).toContain(`Set one first: catty secrets set ${c.keySecret}`);
      expect(warning).toBeLessThan(run.stderr.indexOf('is up.'));
      const label = run.stdout.trim().split('\n').at(-1)!;
      expect((await sessions()).find((s) => s.label === label)?.agent).toBe(c.agent);
      expect((await catty(['stop', label])).code).toBe(0);
    }, 120_000);

    it('opens at its prompt with no dialog, makes a file that syncs back, and the key never enters the machine', async () => {
      for (const [name, value] of [[c.keySecret, c.key], [c.baseUrlSecret, fake.url]] as const) {
        const set = await catty(['secrets', 'set', name], value);
        expect(set.code, set.stderr).toBe(0);
      }
      const session = PtyProcess.catty(['new', '--agent', c.agent, '--net', 'none'], { cwd: project, env, cols: COLS, rows: ROWS });
      await session.waitForScreen(c.ready, 90_000);
      const listed = (await sessions()).find((s) => s.agent === c.agent && s.status === 'running')!;
      expect(listed).toBeDefined();

      // The screen as `catty logs` has it: the prompt, and no dialog in the way.
      const logs = await catty(['logs', listed.label]);
      expect(logs.code, logs.stderr).toBe(0);
      const screen = await rendered(logs.stdout);
      expect(screen).toMatch(c.ready);
      expect(screen).not.toMatch(c.dialogs);

      // Asked, it runs the scripted command in the workspace; the file syncs back here.
      session.write('make the file');
      await session.waitForScreen('make the file');
      session.write('\r');
      await waitFor(() => fs.existsSync(path.join(project, made)) && fs.readFileSync(path.join(project, made), 'utf8') === `made-by-${c.agent}\n`, `${made} synced back`, { timeoutMs: 90_000, everyMs: 100 });
      const answered = await session.waitForScreen(/scripted answer number \d/, 60_000);
      expect(answered).not.toMatch(c.dialogs);
      // Its home holds settings and conversations, not a copy of the CLI (Codex's background
      // app-server would put its ~850 MB of binaries there).
      expect(treeBytes(path.join(dataDir, 'machines', listed.id, 'home'))).toBeLessThan(20 * 1024 * 1024);

      // The scripted API got the real key on every call, never the placeholder.
      const calls = fake.requests.flatMap((route, i) => (c.route.test(route) ? [c.keyOf(fake.headers[i]!)] : []));
      expect(calls.length).toBeGreaterThan(0);
      expect(new Set(calls)).toEqual(new Set([c.key]));
      expect(JSON.stringify(fake.headers)).not.toContain('catty-placeholder');

      // Nowhere in the machine: every process's environment, command line and memory…
      const machine = JSON.parse(fs.readFileSync(path.join(dataDir, 'machines', listed.id, 'machine.json'), 'utf8')) as { pid: number };
      const pids = processTree(machine.pid);
      expect(pids.length).toBeGreaterThanOrEqual(2);
      expect(foundInProcesses(pids, c.key)).toEqual([]);
      // …while the control, the placeholder the agent was given, is found there.
      expect(foundInProcesses(pids, 'catty-placeholder-the-egress-proxy').length).toBeGreaterThan(0);

      // Nor in any file, the final snapshot included (the project's file is in it).
      session.write('\x1d');
      expect(await session.waitForExit(15_000)).toBe(0);
      expect((await catty(['stop', listed.label])).code).toBe(0);
      await waitFor(() => !fs.existsSync(`/proc/${machine.pid}`), 'the machine to stop');
      expect(filesHolding(path.join(home, '.catty', 'local'), c.key)).toEqual([]);
      expect(filesHolding(dataDir, `made-by-${c.agent}`).length).toBeGreaterThan(0);
      label = listed.label;
    }, 300_000);

    it('catty resume keeps the agent and continues its conversation on a new machine', async () => {
      expect(label, 'the session of the test before').toBeDefined();
      const stopped = label!;
      const resumed = PtyProcess.catty(['resume', stopped], { cwd: project, env, cols: COLS, rows: ROWS });
      // The earlier turn is on the screen again: the agent read back its own conversation.
      const screen = await resumed.waitForScreen(/make the file[\s\S]*scripted answer number \d/, 90_000);
      expect(screen).not.toMatch(c.dialogs);
      expect((await sessions()).find((s) => s.label === stopped)).toMatchObject({ agent: c.agent, status: 'running' });
      resumed.write('\x1d');
      expect(await resumed.waitForExit(15_000)).toBe(0);
      expect((await catty(['stop', stopped])).code).toBe(0);
    }, 180_000);
  });
}
