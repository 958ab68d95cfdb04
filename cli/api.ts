/**
 * Which API a command talks to, with which tokens (precedence in config.ts); starts the embedded
 * local control plane when nothing else is configured.
 */
import type { Context } from './context.js';
import { ApiClient, type TokenStore, type Tokens } from './api-client.js';
import { configuredApiUrl, loadCredentials, saveCredentials } from './config.js';
import { ensureLocalServer } from './local/server.js';

/** Tokens saved in credentials.json, used only for the URL they were issued by. */
function savedTokenStore(ctx: Context, apiUrl: string, local: boolean): TokenStore {
  return {
    get: () => {
      const creds = loadCredentials(ctx);
      return creds && creds.apiUrl === apiUrl ? creds : null;
    },
    save: (tokens: Tokens) => saveCredentials(ctx, { version: 1, apiUrl, ...tokens, ...(local ? { local: true } : {}) }),
  };
}

export interface ResolveOptions {
  /** Start the embedded control plane when no API is configured (default true). */
  startLocal?: boolean;
}

export async function resolveApi(ctx: Context, options: ResolveOptions = {}): Promise<ApiClient> {
  const configured = configuredApiUrl(ctx);
  if (configured) return new ApiClient(ctx, configured.url, savedTokenStore(ctx, configured.url, false));
  if (options.startLocal === false) return new ApiClient(ctx, 'http://127.0.0.1', null);
  const { creds, started } = await ensureLocalServer(ctx);
  const saved = loadCredentials(ctx);
  // The local server's own tokens go into credentials.json (marked local) so refreshes persist,
  // unless a real login lives there: that one wins by precedence and is never overwritten.
  if (!saved || (saved.local && (started || saved.apiUrl !== creds.apiUrl))) {
    saveCredentials(ctx, {
      version: 1,
      apiUrl: creds.apiUrl,
      accessToken: creds.accessToken,
      refreshToken: creds.refreshToken,
      expiresAt: creds.accessTokenExpiresAt,
      local: true,
    });
  }
  return new ApiClient(ctx, creds.apiUrl, savedTokenStore(ctx, creds.apiUrl, true));
}
