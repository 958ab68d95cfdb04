/** `catty login [--api URL]`: the OAuth device flow (RFC 8628) against the API. */
import type { Command } from 'commander';
import { setTimeout as sleep } from 'node:timers/promises';
import { routes } from '../../api/contract/routes.js';
import { DeviceTokenError, TokenResponse } from '../../api/contract/schemas.js';
import { print, type Context, type Runner } from '../context.js';
import { ApiClient, type TokenStore, type Tokens } from '../api-client.js';
import { checkApiUrl, configuredApiUrl, saveCredentials, type ApiUrlSource } from '../config.js';
import { ExitCode } from '../errors.js';
import { UserError } from '../../session-runtime/wire/errors.js';
import { escapeForTerminal } from '../../session-runtime/wire/safe-path.js';
import { errorFor } from '../api-client.js';

export function register(program: Command, run: Runner): void {
  program
    .command('login')
    .description('log in to a catty API with a device code (opens the browser when it can)')
    .option('--api <url>', 'API URL to log in to')
    .action(run(async (ctx, opts: { api?: string }) => login(ctx, opts.api)));
}

/** Whether a browser can be opened here (not in CI, not asked not to, a display on Linux). */
export function canOpenBrowser(env: NodeJS.ProcessEnv): boolean {
  if (env.CI || env.CATTY_NO_BROWSER) return false;
  if (process.platform === 'linux' && !env.DISPLAY && !env.WAYLAND_DISPLAY) return false;
  return true;
}

export async function login(ctx: Context, apiFlag: string | undefined): Promise<number> {
  const configured = apiFlag ? { url: checkApiUrl(apiFlag, ctx.global.insecure), source: 'flag' as const } : configuredApiUrl(ctx);
  if (!configured) {
    throw new UserError('No API to log in to.', {
      hint: 'Pass --api https://your-catty-api, or just run `catty new`: the embedded local control plane needs no login.',
      exitCode: ExitCode.usage,
    });
  }
  const { url, source } = configured;
  const api = new ApiClient(ctx, url, null, source);
  const device = await api.call(routes.deviceCode);
  print(ctx.stderr, `To log in, open ${device.verification_uri} and enter the code: ${ctx.colors.bold(device.user_code)}`);
  print(ctx.stderr, `(or open ${device.verification_uri_complete})`);
  if (canOpenBrowser(ctx.env)) {
    const { default: open } = await import('open');
    await open(device.verification_uri_complete).catch(() => undefined);
  }
  let intervalMs = device.interval * 1000;
  const deadline = Date.now() + device.expires_in * 1000;
  while (Date.now() < deadline) {
    await sleep(intervalMs);
    const { status, json } = await api.send(routes.deviceToken, {
      body: { grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: device.device_code },
    });
    if (status === 200) {
      const tokens = TokenResponse.parse(json);
      const saved: Tokens = { accessToken: tokens.access_token, refreshToken: tokens.refresh_token, expiresAt: new Date(Date.now() + tokens.expires_in * 1000).toISOString() };
      saveCredentials(ctx, { version: 1, apiUrl: url, ...saved });
      const email = await whoAmI(ctx, url, source, saved);
      print(ctx.stderr, `Logged in to ${url}${email === null ? '' : ` as ${escapeForTerminal(email)}`}.`);
      return ExitCode.ok;
    }
    const pending = DeviceTokenError.safeParse(json);
    if (!pending.success) throw errorFor(status, json, url);
    switch (pending.data.error) {
      case 'authorization_pending':
        break;
      case 'slow_down':
        intervalMs += 5000;
        break;
      case 'access_denied':
        throw new UserError('The login was denied in the browser.');
      case 'expired_token':
      case 'invalid_grant':
        throw new UserError('The login code expired.', { hint: 'Run `catty login` again.' });
      default: {
        const never: never = pending.data.error;
        throw new UserError(`Unexpected login answer: ${String(never)}`);
      }
    }
  }
  throw new UserError('The login code expired.', { hint: 'Run `catty login` again.' });
}

/** The account the new login belongs to (GET /v1/me); null when the API does not say — the
 * login itself succeeded, so that is no reason to fail. */
async function whoAmI(ctx: Context, url: string, source: ApiUrlSource, first: Tokens): Promise<string | null> {
  let current = first;
  const store: TokenStore = {
    get: () => current,
    save: (tokens) => {
      current = tokens;
      saveCredentials(ctx, { version: 1, apiUrl: url, ...tokens });
    },
  };
  try {
    return (await new ApiClient(ctx, url, store, source).call(routes.me)).email;
  } catch {
    return null;
  }
}
