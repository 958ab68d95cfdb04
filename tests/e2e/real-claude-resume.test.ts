/**
 * Real Claude Code resumed (issue 23, item 2): a conversation with the scripted Messages API
 * (tests/helpers/fake-anthropic.ts) through the egress proxy, the agent exits (the session
 * stops, its final snapshot holds the transcript beside the workspace), `catty resume` starts a
 * new machine with `claude --continue` — and the next prompt's request to the model carries the
 * earlier turn, which only the restored transcript can have given it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeAnthropic, type FakeAnthropic } from '../helpers/fake-anthropic.js';
import { PtyProcess } from '../helpers/pty.js';
import { tempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/wait.js';
import { runCatty } from './harness.js';

const WORD = 'pineapple-seven-41';
let home: string;
let project: string;
let env: NodeJS.ProcessEnv;
let fake: FakeAnthropic;

beforeAll(async () => {
  home = tempDir('claude-resume-home');
  project = tempDir('claude-resume-project');
  env = { PATH: process.env.PATH, HOME: home, CATTY_HOME: path.join(home, '.catty'), TERM: 'xterm-256color', LANG: 'C.UTF-8' };
  fs.writeFileSync(path.join(project, 'hello.py'), 'print("hello")\n');
  fake = await startFakeAnthropic((n) => `scripted answer number ${n}`);
});

afterAll(async () => {
  await runCatty(['server', 'stop'], { cwd: project, env }).catch(() => undefined);
  await fake?.close();
});

/** Types a prompt, sends it, waits for the scripted answer to it. */
async function ask(session: PtyProcess, prompt: string): Promise<void> {
  const before = fake.requests.length;
  session.write(prompt);
  await session.waitForScreen(prompt);
  session.write('\r');
  await waitFor(() => fake.requests.slice(before).includes('POST /v1/messages'), 'the model call', { timeoutMs: 90_000 });
  await session.waitForScreen(/scripted answer number \d/, 90_000);
}

async function exitClaude(session: PtyProcess): Promise<void> {
  session.write('\x15');
  session.write('/exit');
  await session.waitForScreen('Exit the CLI');
  session.write('\r');
  expect(await session.waitForExit(60_000)).toBe(0);
}

describe('real Claude Code resumed', () => {
  it('continues its conversation on the new machine: the model sees the earlier turn', async () => {
    for (const [name, value] of [['ANTHROPIC_API_KEY', 'sk-ant-api03-e2e-resume-key'], ['ANTHROPIC_BASE_URL', fake.url]] as const) {
      const set = await runCatty(['secrets', 'set', name], { cwd: project, env, input: value });
      expect(set.code, set.stderr).toBe(0);
    }
    const first = PtyProcess.catty(['new', '--net', 'none'], { cwd: project, env, cols: 100, rows: 30 });
    await first.waitForScreen(/Claude Code v\d+\.\d+/, 90_000);
    await ask(first, `remember the word ${WORD}`);
    await exitClaude(first);
    const list = await runCatty(['list', '--json'], { cwd: project, env });
    const [session] = JSON.parse(list.stdout) as Array<{ label: string; status: string; resumable: boolean }>;
    await waitFor(async () => {
      const now = JSON.parse((await runCatty(['list', '--json'], { cwd: project, env })).stdout) as Array<{ label: string; resumable: boolean }>;
      return now.find((s) => s.label === session!.label)?.resumable === true;
    }, 'the session to be resumable', { timeoutMs: 30_000 });

    const resumed = PtyProcess.catty(['resume', session!.label], { cwd: project, env, cols: 100, rows: 30 });
    await resumed.waitForScreen(/Claude Code v\d+\.\d+/, 90_000);
    const before = fake.bodies.length;
    await ask(resumed, 'what was the word');
    const asked = fake.bodies.slice(before).filter((_, i) => fake.requests[before + i] === 'POST /v1/messages').find((body) => body.includes('what was the word'));
    expect(asked, 'a request with the new prompt').toBeDefined();
    expect(asked).toContain(`remember the word ${WORD}`);
    await exitClaude(resumed);
  }, 400_000);
});
