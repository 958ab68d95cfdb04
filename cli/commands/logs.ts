/** `catty logs <label>`: the session's last terminal output. */
import type { Command } from 'commander';
import { LogsResponse } from '../../api/contract.js';
import type { Runner } from '../main.js';
import type { Context } from '../context.js';
import { resolveApi } from '../api.js';
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

export async function logs(ctx: Context, label: string): Promise<void> {
  const bytes = await fetchLogs(ctx, label);
  ctx.stdout.write(bytes);
  if (bytes.length > 0 && bytes[bytes.length - 1] !== 0x0a) ctx.stdout.write('\n');
}
