/**
 * Real Claude Code through the egress proxy (issue 20, item 5), as a user with
 * ANTHROPIC_API_KEY and ANTHROPIC_BASE_URL secrets runs it: `catty new` starts the local control
 * plane, the machine (bubblewrap when it works) gets ANTHROPIC_BASE_URL = the runtime's bridge
 * and a placeholder key, and catty-node sends each model call on to the scripted Messages API on
 * this host's loopback (tests/helpers/fake-anthropic.ts) with the real key. Claude Code answers a
 * prompt with the scripted text; the scripted API saw the real key and never the placeholder.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeAnthropic, type FakeAnthropic } from '../helpers/fake-anthropic.js';
import { PtyProcess } from '../helpers/pty.js';
import { tempDir } from '../helpers/temp-dir.js';
import { runCatty } from './harness.js';

const KEY = 'sk-ant-api03-e2e-real-key-held-by-catty-node-42';
let home: string;
let project: string;
let env: NodeJS.ProcessEnv;
let fake: FakeAnthropic;

beforeAll(async () => {
  home = tempDir('claude-proxy-home');
  project = tempDir('claude-proxy-project');
  env = { PATH: process.env.PATH, HOME: home, CATTY_HOME: path.join(home, '.catty'), TERM: 'xterm-256color', LANG: 'C.UTF-8' };
  fs.writeFileSync(path.join(project, 'hello.py'), 'print("hello")\n');
  fake = await startFakeAnthropic((n) => `scripted answer number ${n}`);
});

afterAll(async () => {
  await runCatty(['server', 'stop'], { cwd: project, env }).catch(() => undefined);
  await fake?.close();
});

describe('real Claude Code through the egress proxy', () => {
  it('answers a prompt from the scripted model, which gets the real key; the agent had a placeholder', async () => {
    for (const [name, value] of [['ANTHROPIC_API_KEY', KEY], ['ANTHROPIC_BASE_URL', fake.url]] as const) {
      const set = await runCatty(['secrets', 'set', name], { cwd: project, env, input: value });
      expect(set.code, set.stderr).toBe(0);
    }
    const session = PtyProcess.catty(['new', '--net', 'none'], { cwd: project, env, cols: 100, rows: 30 });
    await session.waitForScreen(/Claude Code v\d+\.\d+/, 90_000);
    session.write('say hi');
    await session.waitForScreen('say hi');
    session.write('\r');
    const screen = await session.waitForScreen(/scripted answer number \d/, 90_000);
    expect(screen).not.toMatch(/API Error|Invalid API key|Not logged in/i);

    const calls = fake.requests.map((route, i) => ({ route, key: fake.headers[i]!['x-api-key'] })).filter((c) => c.route === 'POST /v1/messages');
    expect(calls.length).toBeGreaterThan(0);
    for (const call of calls) expect(call.key).toBe(KEY);
    expect(JSON.stringify(fake.headers)).not.toContain('catty-placeholder');

    session.write('\x15');
    session.write('/exit');
    await session.waitForScreen('Exit the CLI');
    session.write('\r');
    expect(await session.waitForExit(30_000)).toBe(0);
  }, 240_000);
});
