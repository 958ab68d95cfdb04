/** `catty stop <label> [--delete]`. */
import type { Command } from 'commander';
import { routes } from '../../api/contract/routes.js';
import { print, type Context, type Runner } from '../context.js';
import { resolveApi } from '../api.js';
import { parseLabel } from './options.js';
import { loadRecord, removeRecord } from '../sessions/store.js';
import { runtimeTarget } from '../sessions/runtime-target.js';

export function register(program: Command, run: Runner): void {
  program
    .command('stop')
    .description('stop a session (its last snapshot stays downloadable unless --delete)')
    .argument('<label>', 'session label', parseLabel)
    .option('--delete', 'also delete the session and its snapshots')
    .action(run(async (ctx, label: string, opts: { delete?: boolean }) => stop(ctx, label, opts.delete === true)));
}

export async function stop(ctx: Context, label: string, del: boolean): Promise<void> {
  const api = await resolveApi(ctx);
  await commitsHomeBeforeStop(ctx, api, label);
  const session = await api.call(routes.stop, { params: { ref: label } });
  if (del) {
    await api.call(routes.deleteSession, { params: { ref: label } });
    removeRecord(ctx, label);
    print(ctx.stderr, `Deleted ${label}.`);
    return;
  }
  print(ctx.stderr, `Stopped ${label} (${session.status}). Go on with \`catty resume ${label}\`, or get its files with \`catty download ${label}\`.`);
}

/** The agent's branches come home before its machine goes (a note when that cannot be). */
async function commitsHomeBeforeStop(ctx: Context, api: Awaited<ReturnType<typeof resolveApi>>, label: string): Promise<void> {
  const record = loadRecord(ctx, label);
  if (!record) return;
  const session = await api.call(routes.getSession, { params: { ref: label } }).catch(() => null);
  if (session?.status !== 'running') return;
  const info = await api.call(routes.connect, { params: { ref: label } }).catch(() => null);
  if (!info) return;
  const { bringCommitsHome } = await import('../git-import/come-home.js');
  const result = await bringCommitsHome({ label, ...runtimeTarget(api.baseUrl, info), connectToken: info.connectToken, localDir: record.localDir }, ctx.env);
  print(ctx.stderr, result.line);
}
