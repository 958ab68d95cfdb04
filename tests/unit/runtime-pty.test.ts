/**
 * The agent's PTY (session-runtime/pty.ts) on node-pty's native fork: input, resize, exit codes
 * and signals, and the reused read buffer its listeners must copy from.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Pty, type PtyExit } from '../../session-runtime/pty.js';
import { waitFor } from '../helpers/wait.js';

const open: Pty[] = [];

function spawn(script: string): { pty: Pty; output: () => string; exit: () => PtyExit | null; reads: Buffer[] } {
  const pty = new Pty('sh', ['-c', script], { name: 'xterm-256color', cols: 80, rows: 24, cwd: '/', env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
  open.push(pty);
  let text = '';
  let exit: PtyExit | null = null;
  const reads: Buffer[] = [];
  pty.onData((data) => {
    reads.push(data);
    text += data.toString('utf8');
  });
  pty.onExit((e) => (exit = e));
  return { pty, output: () => text, exit: () => exit, reads };
}

afterEach(() => {
  for (const pty of open.splice(0)) pty.kill('SIGKILL');
});

describe('Pty', () => {
  it('passes typed input to the agent and its output back', async () => {
    const agent = spawn('read line; echo "got:$line"');
    agent.pty.write('hello\r');
    await waitFor(() => agent.output().includes('got:hello'), 'echo', { timeoutMs: 5_000 });
    expect(await waitFor(() => agent.exit(), 'exit', { timeoutMs: 5_000 })).toEqual({ code: 0, signal: 0 });
  });

  it('resizes the terminal the agent sees', async () => {
    const agent = spawn('read line; stty size');
    agent.pty.resize(132, 40);
    agent.pty.write('\r');
    await waitFor(() => agent.output().includes('40 132'), 'stty size', { timeoutMs: 5_000 });
  });

  it('sets IUTF8, so erasing in canonical mode removes a whole character', async () => {
    const agent = spawn('stty -a');
    await waitFor(() => agent.exit(), 'exit', { timeoutMs: 5_000 });
    expect(agent.output()).toMatch(/(^|\s)iutf8(\s|$)/m);
  });

  it('reports an exit code, and a signal when the agent is killed', async () => {
    const coded = spawn('exit 3');
    expect(await waitFor(() => coded.exit(), 'exit', { timeoutMs: 5_000 })).toEqual({ code: 3, signal: 0 });
    const killed = spawn('echo ready; sleep 30');
    await waitFor(() => killed.output().includes('ready'), 'ready', { timeoutMs: 5_000 });
    killed.pty.kill('SIGTERM');
    expect(await waitFor(() => killed.exit(), 'exit', { timeoutMs: 5_000 })).toMatchObject({ signal: 15 });
  });

  it('reads into one reused buffer: listeners copy what they keep', async () => {
    const agent = spawn('echo one; sleep 0.2; echo two');
    await waitFor(() => agent.exit(), 'exit', { timeoutMs: 5_000 });
    expect(agent.output()).toContain('two');
    expect(agent.reads.length).toBeGreaterThan(1);
    expect(new Set(agent.reads.map((r) => r.buffer)).size).toBe(1);
  });
});
