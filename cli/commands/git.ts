/** `catty git <label>`: brings the agent's branches home now, as refs/remotes/catty/<label>/<branch>. */
import type { Command } from 'commander';
import { routes } from '../../api/contract/routes.js';
import { print, type Context, type Runner } from '../context.js';
import { resolveApi } from '../api.js';
import { ExitCode } from '../errors.js';
import { UserError } from '../../session-runtime/wire/errors.js';
import { loadRecord } from '../sessions/store.js';
import { runtimeTarget } from '../sessions/runtime-target.js';
import { parseLabel } from './options.js';

export function register(program: Command, run: Runner): void {
  program
    .command('git')
    .description("bring the agent's commits into this repository as catty/<label>/<branch>")
    .argument('<label>', 'session label', parseLabel)
    .action(run(async (ctx, label: string) => gitCommand(ctx, label)));
}

export async function gitCommand(ctx: Context, label: string): Promise<number> {
  const record = loadRecord(ctx, label);
  if (!record) throw new UserError(`No local directory is recorded for ${label} on this machine.`, { hint: 'Run it on the machine that created the session.' });
  const api = await resolveApi(ctx);
  const session = await api.call(routes.getSession, { params: { ref: label } });
  if (session.status !== 'running' && session.status !== 'provisioning') {
    print(ctx.stderr, `Session ${label} is ${session.status}: its machine is gone; its last snapshot (with .git) is in \`catty download ${label}\`.`);
    return ExitCode.sessionGone;
  }
  const info = await api.call(routes.connect, { params: { ref: label } });
  const { bringCommitsHome } = await import('../git-import/come-home.js');
  const result = await bringCommitsHome({ label, ...runtimeTarget(api.baseUrl, info), connectToken: info.connectToken, localDir: record.localDir }, ctx.env);
  print(ctx.stderr, result.line);
  return result.ok ? ExitCode.ok : ExitCode.error;
}
