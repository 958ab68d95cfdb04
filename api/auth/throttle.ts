/**
 * The brake on password guessing at the /device sign-in. Each attempt is taken — checked and
 * counted in one conditional statement per key (across every API process on the database) — before the password is checked, so parallel guesses cannot all
 * get past a check made before any of them failed: at most `perAccount` passwords are tried for
 * one account and `perAddress` from one client address per window, however many arrive at once.
 *
 * Keyed per account (the email as the sign-in looks it up, known or not) and per client address
 * (an IPv6 client by its /64, which one machine usually has whole). Counters live in the database
 * (api/state/login-throttle.ts) until their window passes; attempts on other emails never touch
 * an account's row, so no flood clears a block. A right password clears its account's count and
 * gives the address its attempt back.
 */
import { createHash } from 'node:crypto';
import { parseIp } from '../../session-runtime/wire/ip-address.js';
import { iso, type Db } from '../state/db.js';
import { clearAttempts, takeAttempt, throttleRow, uncountAttempt } from '../state/login-throttle.js';

export interface ThrottleLimits {
  perAccount: number;
  perAddress: number;
  windowMs: number;
}

export const DEFAULT_THROTTLE_LIMITS: ThrottleLimits = {
  perAccount: 10,
  // Higher: people behind one NAT share an address.
  perAddress: 100,
  windowMs: 15 * 60 * 1000,
};

export type Taken = { ok: true } | { ok: false; retryAfterMs: number };

export class LoginThrottle {
  constructor(
    private readonly db: Db,
    private readonly limits: ThrottleLimits = DEFAULT_THROTTLE_LIMITS,
  ) {}

  /**
   * Takes one attempt for `email` from `address`, or refuses when either has none left. Each key
   * is taken by one conditional statement (state/login-throttle.ts: takeAttempt), so attempts
   * arriving together — on one API or many — never pass a limit, and none waits on a lock. The
   * account's attempt is taken first and given back when the address has none left: a guess
   * racing that moment may be refused once too often, never allowed once too many.
   */
  async take(email: string, address: string, nowMs: number): Promise<Taken> {
    const now = iso(nowMs);
    const windowEndsAt = iso(nowMs + this.limits.windowMs);
    const account = accountKey(email);
    const client = addressKey(address);
    if (!(await takeAttempt(this.db, account, this.limits.perAccount, now, windowEndsAt))) return this.refusal(account, nowMs);
    if (!(await takeAttempt(this.db, client, this.limits.perAddress, now, windowEndsAt))) {
      await uncountAttempt(this.db, account);
      return this.refusal(client, nowMs);
    }
    return { ok: true };
  }

  /** The password was right: the account starts again, the address gets its attempt back. */
  async succeeded(email: string, address: string): Promise<void> {
    await clearAttempts(this.db, accountKey(email));
    await uncountAttempt(this.db, addressKey(address));
  }

  private async refusal(key: string, nowMs: number): Promise<Taken> {
    const row = await throttleRow(this.db, key);
    return { ok: false, retryAfterMs: Math.max(1000, (row ? Date.parse(row.window_ends_at) : nowMs) - nowMs) };
  }
}

const hashKey = (kind: string, value: string): string => createHash('sha256').update(`${kind}\0${value}`).digest('hex');

function accountKey(email: string): string {
  return hashKey('account', email);
}

/** An IPv4 address as it is (an IPv4-mapped IPv6 one too), an IPv6 one by its /64. */
function addressKey(address: string): string {
  const bytes = parseIp(address);
  if (!bytes) return hashKey('address', address);
  const mapped = bytes.length === 16 && bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
  if (bytes.length === 4 || mapped) return hashKey('address', Array.from(bytes.subarray(-4)).join('.'));
  return hashKey('address6', Buffer.from(bytes.subarray(0, 8)).toString('hex'));
}
