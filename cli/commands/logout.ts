/** `catty logout`: revoke the refresh token (best effort) and delete the saved credentials. */
import type { Command } from 'commander';
import { print, type Context, type Runner } from '../context.js';
import { routes } from '../../api/contract/routes.js';
import { ApiClient } from '../api-client.js';
import { deleteCredentials, loadCredentials } from '../config.js';

export function register(program: Command, run: Runner): void {
  program
    .command('logout')
    .description('revoke the saved login and delete it')
    .action(run(async (ctx) => logout(ctx)));
}

export async function logout(ctx: Context): Promise<void> {
  const creds = loadCredentials(ctx);
  if (!creds) {
    print(ctx.stderr, 'Not logged in.');
    return;
  }
  try {
    // Whatever it answers (an expired token: 401), the login is forgotten here.
    const api = new ApiClient(ctx, creds.apiUrl, { get: () => creds, save: () => undefined });
    await api.send(routes.logout, { body: { refresh_token: creds.refreshToken }, signal: AbortSignal.timeout(10_000) });
  } catch {
    print(ctx.stderr, `Could not reach ${creds.apiUrl} to revoke the token; deleting it locally anyway.`);
  }
  deleteCredentials(ctx);
  print(ctx.stderr, `Logged out of ${creds.apiUrl}.`);
}
