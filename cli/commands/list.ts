/** `catty list|ls [--json]`: every session not deleted, newest first; an ended one with a
 * snapshot to start again from says so (`stopped (resumable)`, `resumable: true`). --json adds
 * `branches`: the agent's branches that came home to the session's local repository here (read
 * with git, so only for --json: the table stays one API call). */
import type { Command } from 'commander';
import { routes } from '../../api/contract/routes.js';
import type { Session } from '../../api/contract/schemas.js';
import { print, type Context, type Runner } from '../context.js';
import { resolveApi } from '../api.js';
import { formatAge, table } from '../output.js';
import { escapeForTerminal } from '../../session-runtime/wire/safe-path.js';

export function register(program: Command, run: Runner): void {
  program
    .command('list')
    .alias('ls')
    .description('list your sessions (stopped ones too), newest first')
    .option('--json', 'print a JSON array')
    .action(run(async (ctx, opts: { json?: boolean }) => list(ctx, opts.json === true)));
}

export async function fetchSessions(ctx: Context): Promise<Session[]> {
  const api = await resolveApi(ctx);
  const { sessions } = await api.call(routes.listSessions);
  return [...sessions].sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt));
}

/** The NET column: the preset, and how many hosts --allow added (`trusted`, `none+2`). */
export function networkLabel(network: Session['network']): string {
  if (!network) return '-';
  return network.allow.length > 0 ? `${network.preset}+${network.allow.length}` : network.preset;
}

/** The STATUS column: the status, marked when `catty resume` can start it again. */
export function statusLabel(session: Session): string {
  return session.resumable === true ? `${session.status} (resumable)` : session.status;
}

export function sessionRows(sessions: Session[], now = Date.now()): string[][] {
  return sessions.map((s) => [s.label, statusLabel(s), formatAge(now - Date.parse(s.createdAt)), s.provisioner].map(escapeForTerminal));
}

export async function list(ctx: Context, json: boolean): Promise<void> {
  const sessions = await fetchSessions(ctx);
  if (json) {
    const { branchesHome } = await import('../sessions/branches.js');
    const branches = await Promise.all(sessions.map((s) => branchesHome(ctx, s.label)));
    print(ctx.stdout, JSON.stringify(sessions.map((s, i) => ({ ...s, resumable: s.resumable === true, branches: branches[i] })), null, 2));
    return;
  }
  if (sessions.length === 0) {
    print(ctx.stderr, 'No sessions. Start one with `catty new`.');
    return;
  }
  const rows = sessionRows(sessions).map((row, i) => [...row, networkLabel(sessions[i]?.network)]);
  print(ctx.stdout, table(['LABEL', 'STATUS', 'AGE', 'PROVISIONER', 'NET'], rows));
}
