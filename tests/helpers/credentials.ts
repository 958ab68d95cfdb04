/**
 * A logged-in $CATTY_HOME, written by the CLI's own code (cli/config.ts `saveCredentials`: the
 * schema, 0600 in a 0700 directory, atomic), never by hand.
 */
import { saveCredentials } from '../../cli/config.js';
import { createContext } from '../../cli/context.js';
import { REPO_ROOT } from './paths.js';

export interface Login {
  apiUrl: string;
  accessToken: string;
  /** Default: a token no API knows (for tests whose access token outlives them). */
  refreshToken?: string;
  /** Default: an hour. */
  expiresInSec?: number;
}

/** Saves `login` as the credentials of the CLI whose $CATTY_HOME is `home`. */
export function saveLogin(home: string, login: Login): void {
  const ctx = createContext({ env: { CATTY_HOME: home } }, { insecure: false, debug: false }, REPO_ROOT);
  saveCredentials(ctx, {
    version: 1,
    apiUrl: login.apiUrl,
    accessToken: login.accessToken,
    refreshToken: login.refreshToken ?? 'unused-refresh-token',
    expiresAt: new Date(Date.now() + (login.expiresInSec ?? 3600) * 1000).toISOString(),
  });
}
