/**
 * $CATTY_HOME and the saved login. API URL precedence, coded once (and written in --help):
 *   --api  >  CATTY_API_URL  >  saved login (credentials.json)  >  the embedded local control plane
 * A plain-http URL whose host is not loopback is refused unless --insecure.
 */
import path from 'node:path';
import fs from 'node:fs';
import * as z from '../session-runtime/wire/zod.js';
import type { Context } from './context.js';
import { ExitCode } from './errors.js';
import { UserError } from '../session-runtime/wire/errors.js';
import { ensurePrivateDir, readJsonFile, writePrivateFileAtomic } from './fs-util.js';

export const Credentials = z.object({
  version: z.literal(1),
  apiUrl: z.string(),
  accessToken: z.string(),
  refreshToken: z.string(),
  /** ISO time the access token expires. */
  expiresAt: z.string(),
  /** Set by earlier versions, which kept a copy of the embedded control plane's tokens here; those
   * now live only in its own file (cli/api.ts), and a copy found here is moved there. */
  local: z.optional(z.boolean()),
});
export type Credentials = z.infer<typeof Credentials>;

export const paths = {
  credentials: (home: string) => path.join(home, 'credentials.json'),
  sessions: (home: string) => path.join(home, 'sessions'),
  logs: (home: string) => path.join(home, 'logs'),
  local: (home: string) => path.join(home, 'local'),
  secrets: (home: string) => path.join(home, 'secrets.json'),
  secretKey: (home: string) => path.join(home, 'secret.key'),
};

/** Creates $CATTY_HOME (0700) if needed and returns it. */
export function ensureHome(ctx: Context): string {
  ensurePrivateDir(ctx.home);
  return ctx.home;
}

export function loadCredentials(ctx: Context): Credentials | null {
  const raw = readJsonFile(paths.credentials(ctx.home));
  if (raw === null) return null;
  const parsed = Credentials.safeParse(raw);
  if (!parsed.success) {
    throw new UserError(`${paths.credentials(ctx.home)} is not a valid catty credentials file.`, {
      hint: 'Run `catty logout` and `catty login` again.',
    });
  }
  return parsed.data;
}

export function saveCredentials(ctx: Context, credentials: Credentials): void {
  ensureHome(ctx);
  writePrivateFileAtomic(paths.credentials(ctx.home), JSON.stringify(credentials, null, 2) + '\n');
}

export function deleteCredentials(ctx: Context): boolean {
  try {
    fs.unlinkSync(paths.credentials(ctx.home));
    return true;
  } catch {
    return false;
  }
}

export type ApiUrlSource = 'flag' | 'env' | 'login' | 'local';

/** The API URL from flag/env/login, or null when the embedded control plane should be used. */
export function configuredApiUrl(ctx: Context): { url: string; source: ApiUrlSource } | null {
  if (ctx.global.api) return { url: checkApiUrl(ctx.global.api, ctx.global.insecure), source: 'flag' };
  const fromEnv = ctx.env.CATTY_API_URL;
  if (fromEnv) return { url: checkApiUrl(fromEnv, ctx.global.insecure), source: 'env' };
  const saved = loadCredentials(ctx);
  if (saved && !saved.local) return { url: checkApiUrl(saved.apiUrl, ctx.global.insecure), source: 'login' };
  return null;
}

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

export function isLoopbackHost(hostname: string): boolean {
  return LOOPBACK_HOSTS.has(hostname) || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}

/** Validates an API URL and returns it without a trailing slash. */
export function checkApiUrl(raw: string, insecure: boolean): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UserError(`Not a valid API URL: ${raw}`, { exitCode: ExitCode.usage });
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new UserError(`The API URL must be http(s): ${raw}`, { exitCode: ExitCode.usage });
  }
  if (url.protocol === 'http:' && !isLoopbackHost(url.hostname) && !insecure) {
    throw new UserError(`Refusing a plain-http API URL that is not loopback: ${raw}`, {
      hint: 'Use https://, or pass --insecure if you really mean it (tokens would travel in clear text).',
      exitCode: ExitCode.usage,
    });
  }
  return url.toString().replace(/\/+$/, '');
}
