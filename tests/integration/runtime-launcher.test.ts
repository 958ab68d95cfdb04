/**
 * The built runtime-launcher (how the local provisioner starts every machine, and how a spare
 * waits for its session): it loads the runtime's code first, says it waits, and starts the
 * runtime only once the session's settings came on stdin — in process.env by then, never in
 * the exec environment. And the built runtime, imported rather than run, does not start.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { LAUNCHER_WAITING_LINE } from '../../session-runtime/wire/runtime-env.js';
import { LAUNCHER_BIN, RUNTIME_BIN } from '../helpers/paths.js';
import { tempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/wait.js';

const dir = tempDir('launcher');

/** A stand-in runtime: says when it is loaded and when started, with the token it sees then. */
const FAKE_RUNTIME = path.join(dir, 'fake-runtime.mjs');
fs.writeFileSync(
  FAKE_RUNTIME,
  `process.stdout.write('loaded token=' + (process.env.CATTY_CONNECT_TOKEN ?? '-') + '\\n');
export function start() { process.stdout.write('started token=' + process.env.CATTY_CONNECT_TOKEN + '\\n'); }
`,
);

interface Run {
  write(input: string): void;
  output(): string;
  exited: Promise<number | null>;
}

function launch(bin: string): Run {
  const child = spawn(process.execPath, [LAUNCHER_BIN, bin], { env: { PATH: process.env.PATH }, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  return {
    write: (input) => child.stdin.end(input),
    output: () => out,
    exited: new Promise((resolve) => child.on('close', (code) => resolve(code))),
  };
}

async function until(run: Run, text: string): Promise<void> {
  await waitFor(() => run.output().includes(text), () => `${JSON.stringify(text)} (got ${JSON.stringify(run.output())})`, { timeoutMs: 10_000, everyMs: 10 });
}

describe('runtime-launcher', () => {
  it('loads the runtime before it waits, then starts it with the settings from stdin', async () => {
    const run = launch(FAKE_RUNTIME);
    await until(run, LAUNCHER_WAITING_LINE);
    expect(run.output()).toBe(`loaded token=-\n${LAUNCHER_WAITING_LINE}\n`);
    run.write(JSON.stringify({ CATTY_CONNECT_TOKEN: 'tok-1', NOT_OURS: 'x' }));
    expect(await run.exited).toBe(0);
    expect(run.output()).toBe(`loaded token=-\n${LAUNCHER_WAITING_LINE}\nstarted token=tok-1\n`);
  });

  it('a spare let go (empty stdin) ends without starting the runtime', async () => {
    const run = launch(FAKE_RUNTIME);
    await until(run, LAUNCHER_WAITING_LINE);
    run.write('');
    expect(await run.exited).toBe(0);
    expect(run.output()).not.toContain('started');
  });

  it('the real runtime, loaded by the launcher, waits for its settings and then starts', async () => {
    const run = launch(RUNTIME_BIN);
    await until(run, LAUNCHER_WAITING_LINE);
    // Loaded and waiting: not started, so no complaint about its missing configuration.
    expect(run.output()).toBe(`${LAUNCHER_WAITING_LINE}\n`);
    run.write(JSON.stringify({ CATTY_WORKSPACE: path.join(dir, 'missing-workspace') }));
    expect(await run.exited).toBe(2);
    expect(run.output()).toMatch(/catty-session: .*CATTY_CONNECT_TOKEN/);
  });
});
