/** `catty logout`: revoke the refresh token (best effort) and delete the saved credentials. */
import type { Command } from 'commander';
import { print, type Context, type Runner } from '../context.js';
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
    const response = await ctx.http(`${creds.apiUrl}/v1/auth/logout`, {
      method: 'POST',
      headers: { authorization: `Bearer ${creds.accessToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ refresh_token: creds.refreshToken }),
      signal: AbortSignal.timeout(10_000),
    });
    response.discard();
  } catch {
    print(ctx.stderr, `Could not reach ${creds.apiUrl} to revoke the token; deleting it locally anyway.`);
  }
  deleteCredentials(ctx);
  print(ctx.stderr, `Logged out of ${creds.apiUrl}.`);
}
