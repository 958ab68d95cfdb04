/** `catty logs <label> [--net]`: the session's last terminal output, or its refused requests. */
import type { Command } from 'commander';
import { print, type Context, type Runner } from '../context.js';
import { fetchLogs } from '../sessions/logs.js';
import { fetchNetLog, refusalLine } from '../sessions/net-log.js';
import { BELOW_SCREEN, LEAVE_SEQUENCE } from '../attach/terminal.js';
import { replayableOutput } from '../terminal-replay.js';
import { parseLabel } from './options.js';

export function register(program: Command, run: Runner): void {
  program
    .command('logs')
    .description("print a session's last terminal output")
    .argument('<label>', 'session label', parseLabel)
    .option('--net', 'print the network requests its policy refused instead (oldest first)')
    .action(run(async (ctx, label: string, opts: { net?: boolean }) => (opts.net ? netLogs(ctx, label) : logs(ctx, label))));
}

export async function netLogs(ctx: Context, label: string): Promise<void> {
  const refusals = await fetchNetLog(ctx, label);
  if (refusals.length === 0) {
    print(ctx.stderr, `No refused network requests for ${label}.`);
    return;
  }
  for (const refusal of refusals) print(ctx.stdout, refusalLine(refusal));
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
