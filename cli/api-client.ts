/**
 * A typed HTTP client for the control-plane API: every response body is parsed with the
 * schemas of api/contract.ts; a 401 triggers one refresh and one retry; errors become
 * UserErrors with the exit codes of DESIGN.md (3 not logged in, 4 session not found/ended).
 */
import type * as z from '../session-runtime/wire/zod.js';
import { ApiError, TokenResponse } from '../api/contract/schemas.js';
import type { Context } from './context.js';
import { ApiRequestError, ExitCode, explainSystemError } from './errors.js';
import { UserError } from '../session-runtime/wire/errors.js';
import type { HttpResponse } from './http.js';

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

export interface RequestOptions {
  body?: unknown;
  /** false: send no Authorization header (device flow). */
  auth?: boolean;
  /** What a 404 means, for the message (e.g. `Session "x"`). */
  notFound?: string;
  signal?: AbortSignal;
}

const REQUEST_TIMEOUT_MS = 120_000;

export class ApiClient {
  readonly baseUrl: string;
  readonly #ctx: Context;
  readonly #tokens: TokenStore | null;

  constructor(ctx: Context, baseUrl: string, tokens: TokenStore | null) {
    this.#ctx = ctx;
    this.baseUrl = baseUrl;
    this.#tokens = tokens;
  }

  get hasTokens(): boolean {
    return this.#tokens?.get() != null;
  }

  async request<S extends z.ZodMiniType>(method: string, route: string, schema: S, options: RequestOptions = {}): Promise<z.infer<S>> {
    const auth = options.auth !== false;
    if (auth && !this.hasTokens) throw notLoggedIn(this.baseUrl);
    let response = await this.#send(method, route, options, auth);
    if (response.status === 401 && auth && (await this.#refresh())) {
      response.discard();
      response = await this.#send(method, route, options, auth);
    }
    return this.#parse(response, schema, options);
  }

  /** Raw response (for routes whose non-2xx answers carry a body the caller interprets). */
  async raw(method: string, route: string, options: RequestOptions = {}): Promise<HttpResponse> {
    return this.#send(method, route, options, options.auth !== false);
  }

  async #send(method: string, route: string, options: RequestOptions, auth: boolean): Promise<HttpResponse> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    const tokens = this.#tokens?.get();
    if (auth && tokens) headers.authorization = `Bearer ${tokens.accessToken}`;
    const signal = options.signal ?? AbortSignal.timeout(REQUEST_TIMEOUT_MS);
    try {
      return await this.#ctx.http(`${this.baseUrl}${route}`, {
        method,
        headers,
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
        signal,
      });
    } catch (error) {
      const explained = explainSystemError(error);
      if (explained) throw new UserError(`${explained.message} (API ${this.baseUrl})`, { hint: explained.hint, cause: error });
      if (error instanceof Error && error.name === 'TimeoutError') throw new UserError(`The API at ${this.baseUrl} did not answer in time.`);
      throw new UserError(`Could not reach the API at ${this.baseUrl}: ${(error as Error).message}`, { cause: error });
    }
  }

  async #refresh(): Promise<boolean> {
    const tokens = this.#tokens?.get();
    if (!this.#tokens || !tokens) return false;
    const response = await this.#send('POST', '/v1/auth/refresh', { body: { refresh_token: tokens.refreshToken } }, false);
    if (!response.ok) {
      response.discard();
      return false;
    }
    const parsed = TokenResponse.safeParse(await response.json().catch(() => null));
    if (!parsed.success) return false;
    this.#tokens.save({
      accessToken: parsed.data.access_token,
      refreshToken: parsed.data.refresh_token,
      expiresAt: new Date(Date.now() + parsed.data.expires_in * 1000).toISOString(),
    });
    return true;
  }

  async #parse<S extends z.ZodMiniType>(response: HttpResponse, schema: S, options: RequestOptions): Promise<z.infer<S>> {
    const text = await response.text();
    let json: unknown = null;
    try {
      json = text.length > 0 ? JSON.parse(text) : null;
    } catch {
      json = null;
    }
    if (!response.ok) throw errorFor(response.status, json, this.baseUrl, options.notFound);
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      throw new UserError(`The API at ${this.baseUrl} sent an unexpected answer (${response.status}).`, {
        hint: 'Is this a catty API of the same version? Try `catty version` and check the URL.',
      });
    }
    return parsed.data;
  }
}

function notLoggedIn(baseUrl: string): UserError {
  return new UserError(`Not logged in to ${baseUrl}.`, { hint: 'Run `catty login`.', exitCode: ExitCode.notLoggedIn });
}

export function errorFor(status: number, json: unknown, baseUrl: string, notFound?: string): ApiRequestError {
  const body = ApiError.safeParse(json);
  const code = body.success ? body.data.error.code : `http_${status}`;
  const message = body.success ? body.data.error.message : `The API answered ${status}.`;
  if (status === 401) {
    return new ApiRequestError(status, code, `Not logged in to ${baseUrl} (${message})`, { hint: 'Run `catty login`.', exitCode: ExitCode.notLoggedIn });
  }
  if (status === 404 && notFound) {
    return new ApiRequestError(status, code, `${notFound} was not found.`, { hint: 'See `catty list`.', exitCode: ExitCode.sessionGone });
  }
  if (status === 409 && notFound) {
    return new ApiRequestError(status, code, message, { exitCode: ExitCode.sessionGone });
  }
  return new ApiRequestError(status, code, message);
}
