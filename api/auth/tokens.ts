/** Access/refresh token pairs: minted, rotated on refresh, revoked on logout. */
import type { TokenResponse } from '../contract/schemas.js';
import { newToken, sha256Hex } from '../crypto.js';
import type { Deps } from '../deps.js';
import { iso } from '../state/db.js';
import { insertToken, liveToken, revokeToken } from '../state/tokens.js';

export interface TokenPair extends TokenResponse {
  accessTokenExpiresAt: string;
}

export async function issueTokenPair(deps: Pick<Deps, 'db' | 'config' | 'now'>, userId: string): Promise<TokenPair> {
  const now = deps.now();
  const access = newToken('cat_at');
  const refresh = newToken('cat_rt');
  const accessExpiresAt = iso(now + deps.config.accessTokenTtlSec * 1000);
  await deps.db.transaction(async (db) => {
    await insertToken(db, { hash: sha256Hex(access), kind: 'access', user_id: userId, session_id: null, expires_at: accessExpiresAt, created_at: iso(now) });
    await insertToken(db, { hash: sha256Hex(refresh), kind: 'refresh', user_id: userId, session_id: null, expires_at: iso(now + deps.config.refreshTokenTtlSec * 1000), created_at: iso(now) });
  });
  return { access_token: access, refresh_token: refresh, token_type: 'Bearer', expires_in: deps.config.accessTokenTtlSec, accessTokenExpiresAt: accessExpiresAt };
}

/** Rotation: the old refresh token is revoked (a conditional update) in the same transaction that
 * mints the new pair; null when it was not live (reuse of a rotated token fails, and of two
 * refreshes racing with one token, one wins). */
export async function rotateRefreshToken(deps: Pick<Deps, 'db' | 'config' | 'now'>, refreshToken: string): Promise<TokenPair | null> {
  return deps.db.transaction(async (db) => {
    const row = await liveToken(db, sha256Hex(refreshToken), 'refresh', iso(deps.now()));
    if (!row || !(await revokeToken(db, row.hash))) return null;
    return issueTokenPair({ ...deps, db }, row.user_id);
  });
}

/** The user id behind a live access token. */
export async function userForAccessToken(deps: Pick<Deps, 'db' | 'now'>, token: string): Promise<string | null> {
  return (await liveToken(deps.db, sha256Hex(token), 'access', iso(deps.now())))?.user_id ?? null;
}
