/**
 * The embedded local control plane (`catty server start|stop|status`): catty-api with the local
 * provisioner as a detached daemon whose state lives in $CATTY_HOME/local/. It writes
 * LocalCredentials (api/contract/schemas.ts) once it listens; the CLI uses its URL and tokens
 * from that file, and writes refreshed tokens back there.
 */
import { escapeForTerminal } from '../../session-runtime/wire/safe-path.js';
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { EXIT_DATA_DIR_BUSY, LocalCredentials } from '../../api/contract/schemas.js';
import { createApiClient } from '../../api/contract/client.js';
import { routes } from '../../api/contract/routes.js';
import type { Context } from '../context.js';
import { UserError } from '../../session-runtime/wire/errors.js';
import { ensureHome, paths } from '../config.js';
import { ensurePrivateDir, readJsonFile, writePrivateFileAtomic } from '../fs-util.js';
import { pidAlive, waitFor } from './process.js';

export const localPaths = (home: string) => {
  const dir = paths.local(home);
  return { dir, credentials: path.join(dir, 'credentials.json'), log: path.join(dir, 'api.log'), data: path.join(dir, 'data') };
};

const START_TIMEOUT_MS = 30_000;
/** One health question; a server busier than this is asked again until START_TIMEOUT_MS. */
const PROBE_TIMEOUT_MS = 5_000;
const STOP_TIMEOUT_MS = 10_000;

/** The running server's credentials, or null when none is running (a stale file is ignored). */
export function readLocalServer(ctx: Context): LocalCredentials | null {
  const raw = readJsonFile(localPaths(ctx.home).credentials);
  if (raw === null) return null;
  const parsed = LocalCredentials.safeParse(raw);
  if (!parsed.success || !pidAlive(parsed.data.pid)) return null;
  return parsed.data;
}

/**
 * Keeps refreshed tokens where the server's came from: its own credentials file is the one
 * place the local login lives (credentials.json holds only a remote login). Written only while
 * it still describes the same server — a restart's fresh file is never overwritten with old ones.
 */
export function saveLocalTokens(ctx: Context, apiUrl: string, tokens: { accessToken: string; refreshToken: string; expiresAt: string }): void {
  const current = readLocalServer(ctx);
  if (!current || current.apiUrl !== apiUrl) return;
  const next: LocalCredentials = { ...current, accessToken: tokens.accessToken, refreshToken: tokens.refreshToken, accessTokenExpiresAt: tokens.expiresAt };
  writePrivateFileAtomic(localPaths(ctx.home).credentials, `${JSON.stringify(next, null, 2)}\n`);
}

/**
 * How a running server answers GET /v1/me with its tokens: `up` (401 counts: its access token
 * may just have expired), `refused` (nothing listens there: the pid in the file is some other
 * process now), or `silent` (no answer in time: alive but busy, or stuck).
 */
export async function probeLocalServer(ctx: Context, creds: LocalCredentials, timeoutMs = PROBE_TIMEOUT_MS): Promise<'up' | 'refused' | 'silent'> {
  try {
    const api = createApiClient({ baseUrl: creds.apiUrl, transport: ctx.http, token: () => creds.accessToken });
    const { status } = await api.send(routes.me, { signal: AbortSignal.timeout(timeoutMs) });
    return status === 200 || status === 401 ? 'up' : 'silent';
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ECONNREFUSED' ? 'refused' : 'silent';
  }
}

/**
 * Starts the server unless one is running; returns its credentials. Never starts a second one
 * beside a live server that is slow to answer (it is waited for, up to `timeoutMs`): two control
 * planes on one data directory would both claim every session. Several `catty`s starting at
 * once may each spawn one; catty-api's data-directory lock lets exactly one of them serve, and
 * the others' spawns exit (EXIT_DATA_DIR_BUSY) while their CLIs wait for its credentials.
 */
export async function ensureLocalServer(ctx: Context, timeoutMs = START_TIMEOUT_MS): Promise<{ creds: LocalCredentials; started: boolean }> {
  const deadline = Date.now() + timeoutMs;
  const existing = readLocalServer(ctx);
  if (existing) {
    const state = await probeLocalServer(ctx, existing);
    if (state === 'up') return { creds: existing, started: false };
    if (state === 'silent') return { creds: await awaitAnswer(ctx, existing, deadline), started: false };
  }
  const bin = path.join(ctx.packageRoot, 'dist', 'api', 'bin.js');
  if (!fs.existsSync(bin)) {
    throw new UserError(`The embedded control plane is not built (${bin} is missing).`, { hint: 'Run `npm run build`, or pass --api URL.' });
  }
  ensureHome(ctx);
  const lp = localPaths(ctx.home);
  ensurePrivateDir(lp.dir);
  ensurePrivateDir(lp.data);
  const logStart = fs.existsSync(lp.log) ? fs.statSync(lp.log).size : 0;
  const logFd = fs.openSync(lp.log, 'a', 0o600);
  let exited: number | null = null;
  let pid: number | undefined;
  try {
    const child = spawn(process.execPath, [bin, '--local-credentials', lp.credentials], {
      detached: true,
      stdio: ['ignore', logFd, logFd],
      env: {
        ...ctx.env,
        CATTY_DATA_DIR: lp.data,
        CATTY_API_LISTEN: '127.0.0.1:0',
        CATTY_PROVISIONER: 'local',
      },
    });
    pid = child.pid;
    child.on('exit', (code) => {
      exited = code ?? 1;
    });
    child.on('error', () => {
      exited = 1;
    });
    child.unref();
  } finally {
    fs.closeSync(logFd);
  }
  const creds = await waitFor(async () => {
    const found = readLocalServer(ctx);
    // Credentials another start left behind (dead pid) are ignored by readLocalServer; a live
    // server's — ours, or the one whose data-directory lock made ours exit — are used once it answers.
    if (found && (found.pid === pid || exited !== null) && (await probeLocalServer(ctx, found)) === 'up') return found;
    if (exited !== null && exited !== EXIT_DATA_DIR_BUSY) {
      throw new UserError(`The local control plane exited (${exited}) before it was ready.`, { hint: `See ${lp.log}.` });
    }
    return null;
  }, Math.max(0, deadline - Date.now()));
  if (!creds) throw new UserError(`The local control plane did not start within ${timeoutMs / 1000} s.`, { hint: `See ${lp.log}.` });
  const started = creds.pid === pid;
  // What it warns about (no sandbox!) goes to its log; the person starting it must see it too.
  if (started) for (const warning of warningsSince(lp.log, logStart)) ctx.stderr.write(`catty: warning: ${escapeForTerminal(warning)}\n`);
  return { creds, started };
}

/** A live server that did not answer: keep asking until `deadline`, then say so. */
async function awaitAnswer(ctx: Context, creds: LocalCredentials, deadline: number): Promise<LocalCredentials> {
  const answered = await waitFor(async () => ((await probeLocalServer(ctx, creds)) === 'up' ? creds : null), Math.max(0, deadline - Date.now()), 200);
  if (answered) return answered;
  throw new UserError(`The local control plane (pid ${creds.pid}, ${creds.apiUrl}) is running but does not answer.`, {
    hint: `It may be overloaded or stuck; see ${localPaths(ctx.home).log}. Restart it with: catty server stop && catty server start`,
  });
}

/** The `catty-api: WARNING: …` lines its log gained since `offset`. */
function warningsSince(log: string, offset: number): string[] {
  try {
    const fd = fs.openSync(log, 'r');
    try {
      const length = Math.min(fs.fstatSync(fd).size - offset, 1024 * 1024);
      if (length <= 0) return [];
      const text = Buffer.alloc(length);
      fs.readSync(fd, text, 0, length, offset);
      return [...text.toString('utf8').matchAll(/^catty-api: WARNING: (.*)$/gm)].map((m) => m[1]!);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return [];
  }
}

/** SIGTERMs the server and waits (bounded) for it to go; false when none was running. */
export async function stopLocalServer(ctx: Context): Promise<boolean> {
  const creds = readLocalServer(ctx);
  if (!creds) return false;
  try {
    process.kill(creds.pid, 'SIGTERM');
  } catch {
    return false;
  }
  const gone = await waitFor(() => (pidAlive(creds.pid) ? null : true), STOP_TIMEOUT_MS);
  if (!gone) {
    try {
      process.kill(creds.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  fs.rmSync(localPaths(ctx.home).credentials, { force: true });
  return true;
}
