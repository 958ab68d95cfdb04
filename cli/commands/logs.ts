/** `catty logs <label>`: the session's last terminal output. */
import type { Command } from 'commander';
import { LogsResponse } from '../../api/contract/schemas.js';
import type { Runner } from '../main.js';
import type { Context } from '../context.js';
import { resolveApi } from '../api.js';
import { BELOW_SCREEN, LEAVE_SEQUENCE } from '../attach/terminal.js';
import { replayableOutput } from '../terminal-replay.js';
import { parseLabel } from './options.js';

export function register(program: Command, run: Runner): void {
  program
    .command('logs')
    .description("print a session's last terminal output")
    .argument('<label>', 'session label', parseLabel)
    .action(run(async (ctx, label: string) => logs(ctx, label)));
}

export async function fetchLogs(ctx: Context, label: string): Promise<Buffer> {
  const api = await resolveApi(ctx);
  const { data } = await api.request('GET', `/v1/sessions/${encodeURIComponent(label)}/logs`, LogsResponse, {
    notFound: `Session "${label}"`,
  });
  return Buffer.from(data, 'base64');
}

/**
 * To a pipe or file: the bytes as recorded. To a terminal: without the requests it would answer
 * into the user's shell, then with what the agent switched on switched off, below its screen.
 */
export async function logs(ctx: Context, label: string): Promise<void> {
  const bytes = await fetchLogs(ctx, label);
  if (bytes.length === 0) return;
  if (ctx.stdout.isTTY === true) {
    ctx.stdout.write(replayableOutput(bytes));
    ctx.stdout.write(LEAVE_SEQUENCE + BELOW_SCREEN);
    return;
  }
  ctx.stdout.write(bytes);
  if (bytes[bytes.length - 1] !== 0x0a) ctx.stdout.write('\n');
}
