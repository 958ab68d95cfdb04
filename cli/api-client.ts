/**
 * The CLI's client of the control-plane API: the contract's typed client
 * (api/contract/client.ts) over the CLI's node:http, plus what only the CLI does — a 401 triggers
 * one token refresh and one retry, and errors become UserErrors with the exit codes of
 * DESIGN.md (3 not logged in, 4 session not found or ended).
 */
import { createApiClient, RouteError, UnexpectedAnswer, type Answer, type ApiClient as ContractClient, type CallArgs } from '../api/contract/client.js';
import { routes, type ResponseOf, type Route } from '../api/contract/routes.js';
import { SANDBOX_UNAVAILABLE } from '../api/contract/schemas.js';
import type { Context } from './context.js';
import type { ApiUrlSource } from './config.js';
import { ApiRequestError, ExitCode, explainSystemError } from './errors.js';
import { ErrorBody, UserError } from '../session-runtime/wire/errors.js';

export interface Tokens {
  accessToken: string;
  refreshToken: string;
  expiresAt: string;
}

/** Where tokens come from and where refreshed ones go. */
export interface TokenStore {
  get(): Tokens | null;
  save(tokens: Tokens): void;
}

const REQUEST_TIMEOUT_MS = 120_000;
/** How long the reachability question before "not logged in" may take. */
const REACH_TIMEOUT_MS = 10_000;

export class ApiClient {
  readonly baseUrl: string;
  /** Where the URL came from: hints name the setting to check (or the local control plane's). */
  readonly source: ApiUrlSource;
  readonly #client: ContractClient;
  readonly #tokens: TokenStore | null;

  constructor(ctx: Context, baseUrl: string, tokens: TokenStore | null, source: ApiUrlSource) {
    this.baseUrl = baseUrl;
    this.source = source;
    this.#tokens = tokens;
    this.#client = createApiClient({
      baseUrl,
      token: () => tokens?.get()?.accessToken,
      transport: async (url, request) => {
        try {
          return await ctx.http(url, { ...request, signal: request.signal ?? AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
        } catch (error) {
          throw unreachable(error, baseUrl, source);
        }
      },
    });
  }

  /** The route's answer, parsed; any failure is a UserError (a 404 of a session names it). */
  async call<R extends Route>(route: R, ...args: CallArgs<R>): Promise<ResponseOf<R>> {
    try {
      return await this.#withRefresh(route, () => this.#client.call(route, ...args));
    } catch (error) {
      const params = args[0]?.params as { ref?: string } | undefined;
      throw this.#explain(error, params?.ref);
    }
  }

  /** Status and JSON as they came (for answers the caller interprets, as the device flow's). */
  async send<R extends Route>(route: R, ...args: CallArgs<R>): Promise<Answer> {
    return this.#withRefresh(route, () => this.#client.send(route, ...args));
  }

  async #withRefresh<T>(route: Route, attempt: () => Promise<T>): Promise<T> {
    if (route.auth === 'none') return attempt();
    if (this.#tokens?.get() == null) {
      // Nothing to send (and no body — it may carry secrets — for an API we have no login to);
      // but "not logged in" is only true of an API that answers: ask it something harmless
      // first, so an unreachable one is reported as unreachable.
      await this.#client.send(routes.health, { signal: AbortSignal.timeout(REACH_TIMEOUT_MS) });
      throw this.source === 'local' ? localTokenRefused(this.baseUrl) : notLoggedIn(this.baseUrl, this.source);
    }
    try {
      return await attempt();
    } catch (error) {
      if (!(error instanceof RouteError && error.status === 401) || !(await this.#refresh())) throw error;
      return attempt();
    }
  }

  async #refresh(): Promise<boolean> {
    const tokens = this.#tokens?.get();
    if (!this.#tokens || !tokens) return false;
    const fresh = await this.#client.call(routes.refresh, { body: { refresh_token: tokens.refreshToken } }).catch(() => null);
    if (!fresh) return false;
    this.#tokens.save({
      accessToken: fresh.access_token,
      refreshToken: fresh.refresh_token,
      expiresAt: new Date(Date.now() + fresh.expires_in * 1000).toISOString(),
    });
    return true;
  }

  #explain(error: unknown, sessionRef: string | undefined): unknown {
    if (error instanceof RouteError && error.status === 401 && this.source === 'local') return localTokenRefused(this.baseUrl);
    if (error instanceof RouteError && this.source === 'local' && error.code === SANDBOX_UNAVAILABLE) return localSandboxMissing(error);
    if (error instanceof RouteError) {
      return errorFor(error.status, error.body, this.baseUrl, sessionRef === undefined ? undefined : `Session "${sessionRef}"`, loginHint(this.baseUrl, this.source));
    }
    if (error instanceof UnexpectedAnswer) {
      return new UserError(`The API at ${this.baseUrl} sent an unexpected answer (${error.status}).`, {
        hint: 'Is this a catty API of the same version? Try `catty version` and check the URL.',
      });
    }
    return error;
  }
}

function unreachable(error: unknown, baseUrl: string, source: ApiUrlSource): UserError {
  const explained = explainSystemError(error);
  const hint = explained?.hint ?? reachHint(baseUrl, source);
  if (explained) return new UserError(`${explained.message} (API ${baseUrl})`, { hint, cause: error });
  if (error instanceof Error && error.name === 'TimeoutError') return new UserError(`The API at ${baseUrl} did not answer in time.`, { hint });
  return new UserError(`Could not reach the API at ${baseUrl}: ${(error as Error).message}`, { hint, cause: error });
}

/** What to check when the API cannot be reached: the setting its URL came from, or — only for
 * the embedded one — the local control plane. */
function reachHint(baseUrl: string, source: ApiUrlSource): string {
  switch (source) {
    case 'local':
      return 'The local control plane stopped answering: see `catty server status` (restart it with `catty server stop && catty server start`).';
    case 'flag':
      return `Is a catty API running at ${baseUrl}? Check the --api URL.`;
    case 'env':
      return `Is a catty API running at ${baseUrl}? Check CATTY_API_URL.`;
    case 'login':
      return `Is a catty API running at ${baseUrl}? It is your saved login (\`catty logout\` forgets it).`;
    default: {
      const never: never = source;
      throw new Error(`unknown API URL source ${String(never)}`);
    }
  }
}

/** The local control plane refuses sessions without a sandbox: its message says why and what
 * opting out costs; how to act on it is the CLI's to say (the control plane reads its settings
 * when it starts). */
function localSandboxMissing(error: RouteError): UserError {
  const body = ErrorBody.parse(error.body);
  return new ApiRequestError(error.status, body.error.code, body.error.message, {
    hint: 'After installing it, restart the local control plane: `catty server stop`. To run without isolation anyway: `catty server stop`, then `CATTY_LOCAL_SANDBOX=none catty new`.',
  });
}

/** `catty login` alone would not log in to a URL given with --api. */
function loginHint(baseUrl: string, source: ApiUrlSource): string {
  return source === 'flag' ? `Run \`catty login --api ${baseUrl}\`.` : 'Run `catty login`.';
}

function notLoggedIn(baseUrl: string, source: ApiUrlSource): UserError {
  const hint = loginHint(baseUrl, source);
  return new UserError(`Not logged in to ${baseUrl}.`, { hint, exitCode: ExitCode.notLoggedIn });
}

/** The local control plane refused the tokens it wrote itself (revoked, or expired unused), or
 * its credentials file went away. */
function localTokenRefused(baseUrl: string): UserError {
  return new UserError(`The local control plane at ${baseUrl} did not accept its own token.`, {
    hint: 'Restart it to get a fresh one: `catty server stop && catty server start` (running sessions keep running).',
    exitCode: ExitCode.notLoggedIn,
  });
}

/** A non-2xx answer as the user's error: 401 → not logged in; for a session (`notFound`), 404
 * → not found (or what else was missing) and 409 → ended, both exit 4. */
export function errorFor(status: number, json: unknown, baseUrl: string, notFound?: string, login = 'Run `catty login`.'): ApiRequestError {
  const body = ErrorBody.safeParse(json);
  const code = body.success ? body.data.error.code : `http_${status}`;
  const message = body.success ? body.data.error.message : `The API answered ${status}.`;
  if (status === 401) {
    return new ApiRequestError(status, code, `Not logged in to ${baseUrl} (${message})`, { hint: login, exitCode: ExitCode.notLoggedIn });
  }
  if (status === 404 && notFound) {
    // A 404 of something else than the session (`no_snapshot`) says what in its message.
    if (code !== 'not_found') return new ApiRequestError(status, code, message, { exitCode: ExitCode.sessionGone });
    return new ApiRequestError(status, code, `${notFound} was not found.`, { hint: 'See `catty list`.', exitCode: ExitCode.sessionGone });
  }
  if (status === 409 && notFound) {
    return new ApiRequestError(status, code, message, { exitCode: ExitCode.sessionGone });
  }
  return new ApiRequestError(status, code, message);
}
