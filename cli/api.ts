/**
 * Which API a command talks to, with which tokens (precedence in config.ts); starts the embedded
 * local control plane when nothing else is configured.
 *
 * Two logins that never share a file: a remote one (`catty login`) in credentials.json, and the
 * local control plane's own, in the file it writes ($CATTY_HOME/local/credentials.json). So
 * `catty logout` forgets the remote one only, and the local control plane always has its tokens.
 */
import type { Context } from './context.js';
import { ApiClient, type TokenStore, type Tokens } from './api-client.js';
import { configuredApiUrl, deleteCredentials, loadCredentials, saveCredentials } from './config.js';
import { ensureLocalServer, readLocalServer, saveLocalTokens } from './local/server.js';

/** The remote login saved in credentials.json, used only for the URL it was issued by. */
function savedTokenStore(ctx: Context, apiUrl: string): TokenStore {
  return {
    get: () => {
      const creds = loadCredentials(ctx);
      return creds && !creds.local && creds.apiUrl === apiUrl ? creds : null;
    },
    save: (tokens: Tokens) => saveCredentials(ctx, { version: 1, apiUrl, ...tokens }),
  };
}

/** The local control plane's tokens, read from its own file at each use. */
function localTokenStore(ctx: Context, apiUrl: string): TokenStore {
  return {
    get: () => {
      const creds = readLocalServer(ctx);
      return creds && creds.apiUrl === apiUrl ? { accessToken: creds.accessToken, refreshToken: creds.refreshToken, expiresAt: creds.accessTokenExpiresAt } : null;
    },
    save: (tokens: Tokens) => saveLocalTokens(ctx, apiUrl, tokens),
  };
}

/**
 * Earlier versions copied the local tokens into credentials.json (marked local) and refreshed
 * them there: that copy is the newer one. Taken back into the server's file once, then dropped.
 */
function adoptLegacyLocalCopy(ctx: Context, apiUrl: string): void {
  const saved = loadCredentials(ctx);
  if (!saved?.local) return;
  if (saved.apiUrl === apiUrl) saveLocalTokens(ctx, apiUrl, saved);
  deleteCredentials(ctx);
}

export async function resolveApi(ctx: Context): Promise<ApiClient> {
  const configured = configuredApiUrl(ctx);
  if (configured) return new ApiClient(ctx, configured.url, savedTokenStore(ctx, configured.url), configured.source);
  const { creds } = await ensureLocalServer(ctx);
  adoptLegacyLocalCopy(ctx, creds.apiUrl);
  return new ApiClient(ctx, creds.apiUrl, localTokenStore(ctx, creds.apiUrl), 'local');
}
