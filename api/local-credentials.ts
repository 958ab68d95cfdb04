/** The embedded local control plane's login for the CLI: one local account, a token pair,
 * written as LocalCredentials JSON (0600, atomically: temp file + rename). */
import { chmodSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { issueTokenPair } from './auth/tokens.js';
import type { LocalCredentials } from './contract/schemas.js';
import type { Deps } from './deps.js';
import { ensureLocalUser } from './services/users.js';

export async function writeLocalCredentials(deps: Pick<Deps, 'db' | 'config' | 'now'>, apiUrl: string, file: string): Promise<LocalCredentials> {
  const user = await ensureLocalUser(deps);
  const pair = await issueTokenPair(deps, user.id);
  const creds: LocalCredentials = {
    version: 1,
    apiUrl,
    accessToken: pair.access_token,
    refreshToken: pair.refresh_token,
    accessTokenExpiresAt: pair.accessTokenExpiresAt,
    pid: process.pid,
  };
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(creds, null, 2)}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
  return creds;
}
