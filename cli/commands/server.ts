/** `catty server start|stop|status`: the embedded local control plane. */
import type { Command } from 'commander';
import { createApiClient } from '../../api/contract/client.js';
import { routes } from '../../api/contract/routes.js';
import { print, type Context, type Runner } from '../context.js';
import { ensureLocalServer, localPaths, readLocalServer, stopLocalServer } from '../local/server.js';
import { ExitCode } from '../errors.js';

export function register(program: Command, run: Runner): void {
  const server = program.command('server').description('the embedded local control plane (state in $CATTY_HOME/local)');
  server
    .command('start')
    .description('start it in the background (commands also start it on demand)')
    .action(
      run(async (ctx) => {
        const { creds, started } = await ensureLocalServer(ctx);
        print(ctx.stdout, `${started ? 'Started' : 'Already running:'} ${creds.apiUrl} (pid ${creds.pid})`);
      }),
    );
  server
    .command('stop')
    .description('stop it (running sessions keep running)')
    .action(
      run(async (ctx) => {
        print(ctx.stdout, (await stopLocalServer(ctx)) ? 'Stopped.' : 'Not running.');
      }),
    );
  server
    .command('status')
    .description('print its URL, pid and sessions (exit 1 when it is not running)')
    .option('--json', 'print {running, url, pid, answering, sessions: {total, running}, log} as JSON')
    .action(run(async (ctx, opts: { json?: boolean }) => status(ctx, opts.json === true)));
}

interface Status {
  running: boolean;
  url?: string;
  pid?: number;
  /** Whether it answered the question about its sessions (in 5 s). */
  answering?: boolean;
  /** null when it did not answer (or not with a session list). */
  sessions?: { total: number; running: number } | null;
  log: string;
}

async function readStatus(ctx: Context): Promise<Status> {
  const log = localPaths(ctx.home).log;
  const creds = readLocalServer(ctx);
  if (!creds) return { running: false, log };
  const status: Status = { running: true, url: creds.apiUrl, pid: creds.pid, answering: false, sessions: null, log };
  try {
    const api = createApiClient({ baseUrl: creds.apiUrl, transport: ctx.http, token: () => creds.accessToken });
    const { json } = await api.send(routes.listSessions, { signal: AbortSignal.timeout(5_000) });
    status.answering = true;
    const parsed = routes.listSessions.response.safeParse(json);
    if (parsed.success) status.sessions = { total: parsed.data.sessions.length, running: parsed.data.sessions.filter((s) => s.status === 'running').length };
  } catch {
    // not answering: said as such
  }
  return status;
}

async function status(ctx: Context, json: boolean): Promise<number> {
  const s = await readStatus(ctx);
  if (json) print(ctx.stdout, JSON.stringify(s, null, 2));
  else if (!s.running) print(ctx.stdout, `Not running. (log: ${s.log})`);
  else {
    const sessions = s.sessions ? `${s.sessions.total} (${s.sessions.running} running)` : s.answering ? 'unknown' : 'not answering';
    print(ctx.stdout, `url:      ${s.url}\npid:      ${s.pid}\nsessions: ${sessions}\nlog:      ${s.log}`);
  }
  return s.running ? ExitCode.ok : ExitCode.error;
}
