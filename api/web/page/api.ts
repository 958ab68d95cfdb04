/**
 * The page's way to the API: the contract's typed client (api/contract/client.ts) over fetch,
 * same origin. Two kinds of caller:
 * - the signed-in user: the HttpOnly cookie travels by itself; every request also carries the
 *   CSRF token `webMe` handed over (`x-catty-csrf`), which a cross-site page cannot read;
 * - a share link: its token as the bearer token, and no cookie at all (credentials: 'omit'),
 *   so a share page never acts as whoever happens to be signed in on this browser.
 */
import { createApiClient, RouteError, type ApiClient, type Transport } from '../../contract/client.js';
import { CSRF_HEADER, routes } from '../../contract/routes.js';
import { WebMe } from '../../contract/schemas.js';
import { ErrorBody } from '../../../session-runtime/wire/errors.js';

function fetchTransport(credentials: RequestCredentials, extraHeaders: () => Record<string, string>): Transport {
  return (url, request) =>
    fetch(url, {
      method: request.method,
      headers: { ...request.headers, ...extraHeaders() },
      body: request.body,
      signal: request.signal,
      credentials,
      cache: 'no-store',
      redirect: 'error',
    });
}

let csrfToken: string | null = null;

/** The signed-in browser's client (cookie + CSRF header). */
export const userApi: ApiClient = createApiClient({
  baseUrl: location.origin,
  transport: fetchTransport('same-origin', (): Record<string, string> => (csrfToken ? { [CSRF_HEADER]: csrfToken } : {})),
});

/** Who is signed in (and the CSRF token for everything after); null when nobody is. */
export async function signedInUser(): Promise<WebMe | null> {
  const answer = await userApi.send(routes.webMe);
  if (answer.status === 401 || answer.status === 403) return null;
  if (answer.status !== 200) throw new RouteError(routes.webMe, answer.status, answer.json);
  const me = WebMe.parse(answer.json);
  csrfToken = me.csrf;
  return me;
}

/** A share link's client: its token as the bearer token, never the cookie. */
export function shareApi(token: string): ApiClient {
  return createApiClient({ baseUrl: location.origin, transport: fetchTransport('omit', () => ({})), token: () => token });
}

/** The one line to show for a failed call: the API's own message when it sent one. */
export function errorText(err: unknown): string {
  if (err instanceof RouteError) {
    const body = ErrorBody.safeParse(err.body);
    if (body.success) return body.data.error.message;
    return `The API answered ${err.status}.`;
  }
  if (err instanceof TypeError) return 'The API could not be reached. Is it still running?';
  return err instanceof Error ? err.message : String(err);
}

/** The error code of a failed call (`secrets_required`, `not_found`, …), if it has one. */
export function errorCode(err: unknown): string | undefined {
  return err instanceof RouteError ? err.code : undefined;
}

export { RouteError };
