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
    .description('print its URL, pid and sessions')
    .action(run(async (ctx) => status(ctx)));
}

async function status(ctx: Context): Promise<number> {
  const creds = readLocalServer(ctx);
  if (!creds) {
    print(ctx.stdout, `Not running. (log: ${localPaths(ctx.home).log})`);
    return ExitCode.error;
  }
  let sessions = 'unknown';
  try {
    const api = createApiClient({ baseUrl: creds.apiUrl, transport: ctx.http, token: () => creds.accessToken });
    const { json } = await api.send(routes.listSessions, { signal: AbortSignal.timeout(5_000) });
    const parsed = routes.listSessions.response.safeParse(json);
    if (parsed.success) {
      const running = parsed.data.sessions.filter((s) => s.status === 'running').length;
      sessions = `${parsed.data.sessions.length} (${running} running)`;
    }
  } catch {
    sessions = 'not answering';
  }
  print(ctx.stdout, `url:      ${creds.apiUrl}\npid:      ${creds.pid}\nsessions: ${sessions}\nlog:      ${localPaths(ctx.home).log}`);
  return ExitCode.ok;
}
