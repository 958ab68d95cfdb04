/**
 * `--agent` as a user meets it (issue 25): `catty new --help` and `catty fork --help` list every
 * agent; an unknown one is a usage error (exit 2) naming them, before anything starts; the API's
 * contract refuses one too, naming them (its 400's message).
 */
import { describe, expect, it } from 'vitest';
import { CreateSessionRequest, ForkRequest } from '../../api/contract/schemas.js';
import { runCatty } from '../e2e/harness.js';
import { tempDir } from '../helpers/temp-dir.js';

const LIST = 'claude, codex, gemini or shell';

describe('--agent', () => {
  const home = tempDir('agent-option');
  const env = { PATH: process.env.PATH, HOME: home, CATTY_HOME: `${home}/.catty` };

  it('the help of new and fork lists the agents', async () => {
    for (const command of ['new', 'fork']) {
      const help = await runCatty([command, '--help'], { cwd: home, env });
      expect(help.code).toBe(0);
      expect(help.stdout.replace(/\s+/g, ' ')).toContain('the agent: claude (Claude Code), codex (Codex), gemini (Gemini CLI) or shell (a login shell)');
    }
  });

  it('an unknown agent is exit 2 with the list, and nothing starts', async () => {
    for (const args of [['new', '--agent', 'vim'], ['fork', 'some-label-1', '--agent', 'vim']]) {
      const run = await runCatty(args, { cwd: home, env });
      expect(run.code, run.stderr).toBe(2);
      expect(run.stderr).toContain(`--agent must be ${LIST}, not "vim"`);
      expect(run.stderr).not.toMatch(/Starting|is up/);
    }
  });

  it('the API refuses one naming them', () => {
    for (const schema of [CreateSessionRequest, ForkRequest]) {
      const parsed = schema.safeParse({ agent: 'vim', snapshot: 'latest' });
      expect(parsed.success).toBe(false);
      expect(parsed.error?.issues[0]?.message).toBe('the agent must be one of claude, codex, gemini, shell');
    }
    expect(CreateSessionRequest.safeParse({ agent: 'gemini' }).success).toBe(true);
  });
});
