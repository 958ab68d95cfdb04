/** `catty connect [label]`: attach to a running session (a picker when no label on a TTY). */
import type { Command } from 'commander';
import { routes } from '../../api/contract/routes.js';
import type { Session } from '../../api/contract/schemas.js';
import { print, type Context, type Runner } from '../context.js';
import { resolveApi } from '../api.js';
import { ExitCode } from '../errors.js';
import { UserError } from '../../session-runtime/wire/errors.js';
import { tableLines } from '../output.js';
import { loadRecord } from '../sessions/store.js';
import { fetchSessions, sessionRows } from './list.js';
import { fetchLogs } from '../sessions/logs.js';
import { DEFAULT_DETACH_KEY, parseDetachKey } from '../attach/detach-key.js';
import { parseLabel } from './options.js';
import { runtimeTarget } from '../sessions/runtime-target.js';

interface ConnectOptions {
  syncBack: boolean;
  autoReconnect: boolean;
  detachKey?: number;
}

export function register(program: Command, run: Runner): void {
  program
    .command('connect')
    .description('attach to a session (pick one when no label is given)')
    .argument('[label]', 'session label', parseLabel)
    .option('--no-sync-back', "do not write the session's file changes back")
    .option('--no-auto-reconnect', 'do not reconnect by itself when the connection drops')
    .option('--detach-key <key>', 'detach key, like ctrl-x (default ctrl-])', parseDetachKey)
    .action(run(async (ctx, label: string | undefined, opts: ConnectOptions) => connect(ctx, label, opts)));
}

async function chooseLabel(ctx: Context): Promise<string> {
  const sessions = (await fetchSessions(ctx)).filter((s) => s.status === 'running' || s.status === 'provisioning');
  if (sessions.length === 0) throw new UserError('No running sessions.', { hint: 'Start one with `catty new`.', exitCode: ExitCode.sessionGone });
  if (sessions.length === 1 && sessions[0]) return sessions[0].label;
  if (!ctx.stdin.isTTY || !ctx.stderr.isTTY) {
    throw new UserError('Which session? Pass a label:', {
      details: tableLines(['LABEL', 'STATUS', 'AGE', 'PROVISIONER'], sessionRows(sessions)),
      exitCode: ExitCode.usage,
    });
  }
  const { pickSession } = await import('../attach/picker.js');
  const picked = await pickSession(ctx, sessions);
  if (!picked) throw new UserError('Cancelled.', { exitCode: ExitCode.usage });
  return picked;
}

export async function connect(ctx: Context, labelArg: string | undefined, opts: ConnectOptions): Promise<number> {
  const label = labelArg ?? (await chooseLabel(ctx));
  const api = await resolveApi(ctx);
  const session = await api.call(routes.getSession, { params: { ref: label } });
  if (session.status !== 'running' && session.status !== 'provisioning') return showEnded(ctx, session);
  const info = await api.call(routes.connect, { params: { ref: label } });
  const { attachSession } = await import('../attach/session.js');
  return attachSession(ctx, {
    label,
    ...runtimeTarget(api.baseUrl, info),
    connectToken: info.connectToken,
    record: loadRecord(ctx, label),
    syncBack: opts.syncBack,
    autoReconnect: opts.autoReconnect,
    detachKey: opts.detachKey ?? DEFAULT_DETACH_KEY,
  });
}

/** A stopped or timed-out session: its last output, how to start it again when it can be, and how to get the files. */
async function showEnded(ctx: Context, session: Session): Promise<number> {
  const logs = await fetchLogs(ctx, session.label).catch(() => Buffer.alloc(0));
  if (logs.length > 0) {
    print(ctx.stderr, `--- last output of ${session.label} ---`);
    ctx.stdout.write(logs);
    print(ctx.stderr, '\n--- end ---');
  }
  print(ctx.stderr, `Session ${session.label} is ${session.status}${session.detail ? ` (${session.detail})` : ''}.`);
  if (session.resumable === true) print(ctx.stderr, `Pick it up where it left off with: catty resume ${session.label}`);
  print(ctx.stderr, `Get its files with: catty download ${session.label}`);
  return ExitCode.sessionGone;
}
