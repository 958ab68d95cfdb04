/**
 * `catty fork <label> [--label NEW]`: a new session from another's latest snapshot (a running
 * one snapshots first) — parallel attempts at one task, each on its own machine. Its record
 * here points at the directory `catty fork` runs in: that is where its changes sync back. In
 * the source's own directory the fork starts from the source's sync base (what that directory
 * last got); anywhere else from none, so a file that differs there becomes a conflict copy
 * rather than being overwritten. Two forks attached in one directory both write into it: use
 * one directory (or `git worktree`) per fork, or --no-sync-back.
 */
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { routes } from '../../api/contract/routes.js';
import { USER_LABEL_PATTERN, type SnapshotChoice } from '../../api/contract/schemas.js';
import { print, type Context, type Runner } from '../context.js';
import { resolveApi } from '../api.js';
import { spinner } from '../output.js';
import { parseDetachKey } from '../attach/detach-key.js';
import { loadManifest, loadRecord, saveManifest, saveRecord } from '../sessions/store.js';
import { SNAPSHOT_FLAG, attachOrPrint, callRestart, parseSnapshotChoice, secretsFor, withSnapshotChoice, type RestartOptions } from '../sessions/restart.js';
import { parseLabel } from './options.js';
import { agentHelp, parseAgent } from './agent-option.js';
import type { AgentName } from '../../session-runtime/wire/agents.js';

interface ForkOptions extends RestartOptions {
  label?: string;
  /** Another agent on the source's workspace; absent: the source's. */
  agent?: AgentName;
}

function parseNewLabel(text: string): string {
  if (!USER_LABEL_PATTERN.test(text) || text.length > 60) throw new InvalidArgumentError('lower-case words joined by hyphens, like try-2');
  return text;
}

export function register(program: Command, run: Runner): void {
  program
    .command('fork')
    .description("start a new session from a session's latest snapshot and attach to it")
    .argument('<label>', 'the session to fork', parseLabel)
    .option('--label <label>', 'the new session\'s label (default: a new one)', parseNewLabel)
    .option(SNAPSHOT_FLAG, 'latest, or previous (the one before it)', parseSnapshotChoice, 'latest' as SnapshotChoice)
    .option('--agent <agent>', `${agentHelp()} (default: the source's)`, parseAgent)
    .option('--detach', 'start it, print its label, do not attach')
    .option('--no-secrets', 'do not send your secrets to the session')
    .option('--no-sync-back', "do not write the session's file changes back here")
    .option('--no-auto-reconnect', 'do not reconnect by itself when the connection drops')
    .option('--detach-key <key>', 'detach key, like ctrl-x (default ctrl-])', parseDetachKey)
    .action(run(async (ctx, label: string, opts: ForkOptions) => fork(ctx, label, opts)));
}

export async function fork(ctx: Context, label: string, opts: ForkOptions): Promise<number> {
  const api = await resolveApi(ctx);
  const source = await api.call(routes.getSession, { params: { ref: label } });
  const agent = opts.agent ?? source.agent;
  // The missing-key warning is for the agent that will run.
  const secrets = secretsFor(ctx, { ...source, agent }, opts.secrets);
  const session = await withSnapshotChoice(ctx, opts.snapshot, async (snapshot) => {
    const spin = spinner(ctx.stderr, `Forking ${source.label}…`);
    try {
      return await callRestart(api, 'fork', source.label, { ...secrets, snapshot, ...(opts.label !== undefined ? { label: opts.label } : {}), ...(opts.agent !== undefined ? { agent: opts.agent } : {}) });
    } finally {
      spin.stop();
    }
  });
  const record = { label: session.label, id: session.id, apiUrl: api.baseUrl, localDir: ctx.cwd, createdAt: session.createdAt };
  saveRecord(ctx, record);
  if (loadRecord(ctx, source.label)?.localDir === ctx.cwd) saveManifest(ctx, session.label, loadManifest(ctx, source.label));
  print(ctx.stderr, `Session ${ctx.colors.bold(session.label)} forked from ${source.label} (its snapshot of ${session.snapshotAt ?? '?'}).`);
  return attachOrPrint(ctx, api, session, record, opts);
}
