/**
 * `catty resume <label> [--detach]`: a stopped (or lost) session on a new machine, from its
 * latest verified snapshot — same label, local directory and sync base (its record here is kept
 * as it is), same network policy and command, new tokens. The secrets are sent again. A running
 * session is attached to.
 */
import type { Command } from 'commander';
import { routes } from '../../api/contract/routes.js';
import type { SnapshotChoice } from '../../api/contract/schemas.js';
import { print, type Context, type Runner } from '../context.js';
import { resolveApi } from '../api.js';
import { spinner } from '../output.js';
import { parseDetachKey } from '../attach/detach-key.js';
import { loadRecord, saveRecord } from '../sessions/store.js';
import { SNAPSHOT_FLAG, attachOrPrint, callRestart, parseSnapshotChoice, secretsFor, withSnapshotChoice, type RestartOptions } from '../sessions/restart.js';
import { parseLabel } from './options.js';

export function register(program: Command, run: Runner): void {
  program
    .command('resume')
    .description('start a stopped session again from its latest snapshot and attach to it')
    .argument('<label>', 'session label', parseLabel)
    .option(SNAPSHOT_FLAG, 'latest, or previous (the one before it)', parseSnapshotChoice, 'latest' as SnapshotChoice)
    .option('--detach', 'start it, print the label, do not attach')
    .option('--no-secrets', 'do not send your secrets to the session')
    .option('--no-sync-back', "do not write the session's file changes back")
    .option('--no-auto-reconnect', 'do not reconnect by itself when the connection drops')
    .option('--detach-key <key>', 'detach key, like ctrl-x (default ctrl-])', parseDetachKey)
    .action(run(async (ctx, label: string, opts: RestartOptions) => resume(ctx, label, opts)));
}

export async function resume(ctx: Context, label: string, opts: RestartOptions): Promise<number> {
  const api = await resolveApi(ctx);
  const source = await api.call(routes.getSession, { params: { ref: label } });
  const secrets = secretsFor(ctx, source, opts.secrets);
  const session = await withSnapshotChoice(ctx, opts.snapshot, async (snapshot) => {
    const spin = spinner(ctx.stderr, source.status === 'running' ? 'Connecting…' : 'Starting a new machine from the snapshot…');
    try {
      return await callRestart(api, 'resume', source.label, { ...secrets, snapshot });
    } finally {
      spin.stop();
    }
  });
  // Resumed on another laptop: sync-back writes into this directory from now on.
  const record = loadRecord(ctx, session.label) ?? { label: session.label, id: session.id, apiUrl: api.baseUrl, localDir: ctx.cwd, createdAt: session.createdAt };
  saveRecord(ctx, record);
  if (session.alreadyRunning) print(ctx.stderr, `Session ${ctx.colors.bold(session.label)} is running; attaching.`);
  else print(ctx.stderr, `Session ${ctx.colors.bold(session.label)} resumed from its snapshot of ${session.snapshotAt ?? '?'}.`);
  return attachOrPrint(ctx, api, session, record, opts);
}
