/** Access/refresh token pairs: minted, rotated on refresh, revoked on logout. */
import type { TokenResponse } from '../contract/schemas.js';
import { newToken, sha256Hex } from '../crypto.js';
import type { Deps } from '../deps.js';
import { iso } from '../state/db.js';
import { insertToken, liveToken, revokeToken } from '../state/tokens.js';

export interface TokenPair extends TokenResponse {
  accessTokenExpiresAt: string;
}

export function issueTokenPair(deps: Pick<Deps, 'db' | 'config' | 'now'>, userId: string): TokenPair {
  const now = deps.now();
  const access = newToken('cat_at');
  const refresh = newToken('cat_rt');
  const accessExpiresAt = iso(now + deps.config.accessTokenTtlSec * 1000);
  deps.db.transaction(() => {
    insertToken(deps.db, { hash: sha256Hex(access), kind: 'access', user_id: userId, session_id: null, expires_at: accessExpiresAt, created_at: iso(now) });
    insertToken(deps.db, { hash: sha256Hex(refresh), kind: 'refresh', user_id: userId, session_id: null, expires_at: iso(now + deps.config.refreshTokenTtlSec * 1000), created_at: iso(now) });
  })();
  return { access_token: access, refresh_token: refresh, token_type: 'Bearer', expires_in: deps.config.accessTokenTtlSec, accessTokenExpiresAt: accessExpiresAt };
}

/** Rotation: the old refresh token is revoked in the same transaction that mints the new pair;
 * null when it was not live (reuse of a rotated token fails). */
export function rotateRefreshToken(deps: Pick<Deps, 'db' | 'config' | 'now'>, refreshToken: string): TokenPair | null {
  return deps.db.transaction(() => {
    const row = liveToken(deps.db, sha256Hex(refreshToken), 'refresh', iso(deps.now()));
    if (!row || !revokeToken(deps.db, row.hash)) return null;
    return issueTokenPair(deps, row.user_id);
  })();
}

/** The user id behind a live access token. */
export function userForAccessToken(deps: Pick<Deps, 'db' | 'now'>, token: string): string | null {
  return liveToken(deps.db, sha256Hex(token), 'access', iso(deps.now()))?.user_id ?? null;
}
