/**
 * `catty logout`: revoke the remote login's refresh token (best effort) and delete it. The local
 * control plane's tokens are not a login (they live in its own file) and are never touched:
 * without a remote login, there is nothing to log out of.
 */
import type { Command } from 'commander';
import { print, type Context, type Runner } from '../context.js';
import { routes } from '../../api/contract/routes.js';
import { ApiClient } from '../api-client.js';
import { deleteCredentials, loadCredentials } from '../config.js';

export function register(program: Command, run: Runner): void {
  program
    .command('logout')
    .description('revoke the saved login to a remote API and delete it')
    .action(run(async (ctx) => logout(ctx)));
}

export async function logout(ctx: Context): Promise<void> {
  const creds = loadCredentials(ctx);
  // A copy of the local tokens an earlier version left here is not a login either.
  if (!creds || creds.local) {
    print(ctx.stderr, 'Not logged in to a remote API; the local control plane needs no login.');
    return;
  }
  try {
    // Whatever it answers (an expired token: 401), the login is forgotten here.
    const api = new ApiClient(ctx, creds.apiUrl, { get: () => creds, save: () => undefined }, 'login');
    await api.send(routes.logout, { body: { refresh_token: creds.refreshToken }, signal: AbortSignal.timeout(10_000) });
  } catch {
    print(ctx.stderr, `Could not reach ${creds.apiUrl} to revoke the token; deleting it locally anyway.`);
  }
  deleteCredentials(ctx);
  print(ctx.stderr, `Logged out of ${creds.apiUrl}.`);
}
