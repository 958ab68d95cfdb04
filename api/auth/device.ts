/**
 * RFC 8628 device authorization: codes, polling with slow_down, approve/deny from the page.
 * The device_code is a bearer secret (stored hashed); the user_code is short and typed by people.
 */
import { randomInt } from 'node:crypto';
import type { DeviceCodeResponse, DeviceTokenError } from '../contract/schemas.js';
import { newToken, sha256Hex } from '../crypto.js';
import type { Deps } from '../deps.js';
import { iso } from '../state/db.js';
import { deviceCodeByHash, deviceCodeByUserCode, insertDeviceCode, moveDeviceCode, updateDeviceCode } from '../state/device-codes.js';
import { issueTokenPair, type TokenPair } from './tokens.js';

/** RFC 8628 §6.1: consonants only — no vowels (no words), no 0/O, 1/I confusion. */
const USER_CODE_ALPHABET = 'BCDFGHJKLMNPQRSTVWXZ';
/** RFC 8628 §3.5: each slow_down adds 5 seconds to the interval. */
const SLOW_DOWN_STEP_SEC = 5;

type D = Pick<Deps, 'db' | 'config' | 'now' | 'publicUrl'>;

function newUserCode(): string {
  let s = '';
  for (let i = 0; i < 8; i++) s += USER_CODE_ALPHABET[randomInt(USER_CODE_ALPHABET.length)];
  return `${s.slice(0, 4)}-${s.slice(4)}`;
}

/** What people type: any case, with or without the dash or spaces. */
export function normalizeUserCode(input: string): string | null {
  const letters = input.toUpperCase().replace(/[^A-Z]/g, '');
  if (letters.length !== 8 || [...letters].some((ch) => !USER_CODE_ALPHABET.includes(ch))) return null;
  return `${letters.slice(0, 4)}-${letters.slice(4)}`;
}

export async function startDeviceAuthorization(deps: D): Promise<DeviceCodeResponse> {
  const deviceCode = newToken('cat_dc');
  const now = deps.now();
  let userCode = newUserCode();
  // 20^8 codes: a collision with a live one is rare, but cheap to rule out.
  while (await deviceCodeByUserCode(deps.db, userCode)) userCode = newUserCode();
  await insertDeviceCode(deps.db, {
    hash: sha256Hex(deviceCode),
    user_code: userCode,
    interval_sec: deps.config.deviceCodeIntervalSec,
    expires_at: iso(now + deps.config.deviceCodeTtlSec * 1000),
    created_at: iso(now),
  });
  const verificationUri = `${deps.publicUrl()}/device`;
  return {
    device_code: deviceCode,
    user_code: userCode,
    verification_uri: verificationUri,
    verification_uri_complete: `${verificationUri}?code=${encodeURIComponent(userCode)}`,
    expires_in: deps.config.deviceCodeTtlSec,
    interval: deps.config.deviceCodeIntervalSec,
  };
}

export type PollResult = { ok: true; tokens: TokenPair } | { ok: false; error: DeviceTokenError };

const fail = (error: DeviceTokenError['error'], description: string): PollResult => ({ ok: false, error: { error, error_description: description } });

/**
 * One poll. The code is consumed by a conditional update (approved → consumed) in the transaction
 * that mints the tokens: of two polls racing on one approved code (two replicas, a retried
 * request), one gets tokens and the other `invalid_grant`.
 */
export async function pollDeviceToken(deps: D, deviceCode: string): Promise<PollResult> {
  const row = await deviceCodeByHash(deps.db, sha256Hex(deviceCode));
  if (!row) return fail('invalid_grant', 'unknown device code');
  const now = deps.now();
  if (row.status === 'denied') return fail('access_denied', 'the request was denied');
  if (row.status === 'consumed') return fail('invalid_grant', 'this device code was already used');
  if (iso(now) >= row.expires_at) return fail('expired_token', 'the device code expired; start again');
  const tooSoon = row.last_polled_at !== null && now - Date.parse(row.last_polled_at) < row.interval_sec * 1000;
  if (tooSoon) {
    await updateDeviceCode(deps.db, row.hash, { last_polled_at: iso(now), interval_sec: row.interval_sec + SLOW_DOWN_STEP_SEC });
    return fail('slow_down', `poll at most every ${row.interval_sec + SLOW_DOWN_STEP_SEC} seconds`);
  }
  if (row.status === 'pending') {
    await updateDeviceCode(deps.db, row.hash, { last_polled_at: iso(now) });
    return fail('authorization_pending', 'waiting for the user to approve');
  }
  return deps.db.transaction(async (db): Promise<PollResult> => {
    if (!(await moveDeviceCode(db, row.hash, 'approved', { status: 'consumed', last_polled_at: iso(now) }))) return fail('invalid_grant', 'this device code was already used');
    return { ok: true, tokens: await issueTokenPair({ ...deps, db }, row.user_id!) };
  });
}

export type DecideResult = 'approved' | 'denied' | 'unknown' | 'expired' | 'already_used';

/** The page's Approve/Deny. Only a pending, unexpired code changes (a conditional update: two
 * decisions racing on one code, one wins). */
export async function decideDeviceCode(deps: D, userCodeInput: string, userId: string, approve: boolean): Promise<DecideResult> {
  const userCode = normalizeUserCode(userCodeInput);
  if (!userCode) return 'unknown';
  const row = await deviceCodeByUserCode(deps.db, userCode);
  if (!row) return 'unknown';
  if (row.status !== 'pending') return 'already_used';
  if (iso(deps.now()) >= row.expires_at) return 'expired';
  const moved = await moveDeviceCode(deps.db, row.hash, 'pending', approve ? { status: 'approved', user_id: userId } : { status: 'denied' });
  if (!moved) return 'already_used';
  return approve ? 'approved' : 'denied';
}
