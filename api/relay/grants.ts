/**
 * The browsers' grants while their sockets are open (issue 24). A share link revoked or expired,
 * or a web session logged out or expired, must not keep watching through a socket opened before:
 * - a share link's socket is closed by a timer at the link's expiry;
 * - every CHECK_EVERY_MS, while any browser socket is open, one query per kind of grant asks the
 *   database which of the open grants are still live (all of them at once, not one query per
 *   socket), and the sockets of the others are closed with CloseCode.accessEnded. The database
 *   and not an in-process signal, because the revocation or the logout may have been served by
 *   another replica; 5 s bounds how long an ended grant keeps watching at one cheap query per
 *   kind per tick.
 * It also caps the sockets one grant may hold open at once (MAX_SOCKETS_PER_GRANT, counted
 * from the moment a socket is authorized, so a burst cannot get past it), so a leaked share link
 * cannot open sockets without bound. The count is per API process: with N replicas behind a
 * balancer a grant holds at most N times that, and the runtime's own MAX_CLIENTS caps a session.
 */
import type { Deps } from '../deps.js';
import { iso } from '../state/db.js';
import type { BrowserGrant } from './browser-auth.js';

export const CHECK_EVERY_MS = 5_000;
export const MAX_SOCKETS_PER_GRANT = 8;
/** setTimeout's largest delay; a later expiry is left to the periodic check's `expires_at`. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** Hashes per `IN (...)` list, well under SQLite's and Postgres's parameter limits. */
const CHUNK = 500;

export interface GrantOptions {
  checkEveryMs?: number;
  maxSocketsPerGrant?: number;
}

/** One socket's hold on its grant: attach its closer once paired, release it once gone. */
export interface GrantSlot {
  /** `end` closes the socket; called at once when the grant ended while it was connecting. */
  attach(end: (reason: string) => void): void;
  release(): void;
}

interface Slot {
  grant: BrowserGrant;
  end: ((reason: string) => void) | null;
  ended: string | null;
  expiry: NodeJS.Timeout | null;
}

const keyOf = (grant: BrowserGrant): string => `${grant.kind}:${grant.hash}`;
const REASON = { share: 'the share link was revoked or has expired', web: 'signed out: sign in again' } as const;

export class GrantWatch {
  readonly #byGrant = new Map<string, Set<Slot>>();
  #ticker: NodeJS.Timeout | null = null;
  #checking = false;
  readonly #everyMs: number;
  readonly #max: number;

  constructor(
    private readonly deps: Pick<Deps, 'db' | 'now' | 'logger'>,
    options: GrantOptions = {},
  ) {
    this.#everyMs = options.checkEveryMs ?? CHECK_EVERY_MS;
    this.#max = options.maxSocketsPerGrant ?? MAX_SOCKETS_PER_GRANT;
  }

  /** A slot for one more socket of `grant`; null when the grant holds its maximum already. */
  reserve(grant: BrowserGrant): GrantSlot | null {
    const key = keyOf(grant);
    const slots = this.#byGrant.get(key) ?? new Set<Slot>();
    if (slots.size >= this.#max) return null;
    this.#byGrant.set(key, slots);
    const slot: Slot = { grant, end: null, ended: null, expiry: null };
    slots.add(slot);
    if (grant.kind === 'share') {
      const timer = setTimeout(() => this.#endSlot(slot, REASON.share), Math.min(Math.max(0, grant.expiresAt - this.deps.now()), MAX_TIMER_MS));
      timer.unref();
      slot.expiry = timer;
    }
    this.#ticker ??= setInterval(() => void this.check(), this.#everyMs);
    this.#ticker.unref();
    return {
      attach: (end) => {
        slot.end = end;
        if (slot.ended !== null) end(slot.ended);
      },
      release: () => this.#release(key, slot),
    };
  }

  /** Sockets open (or connecting) now, over every grant. */
  get size(): number {
    let n = 0;
    for (const slots of this.#byGrant.values()) n += slots.size;
    return n;
  }

  /** Ends the sockets of every grant that is no longer live. A database that does not answer
   * ends nothing: the next tick asks again (a revocation cannot be stored meanwhile either). */
  async check(): Promise<void> {
    if (this.#checking || this.#byGrant.size === 0) return;
    this.#checking = true;
    try {
      const share: string[] = [];
      const web: string[] = [];
      for (const slots of this.#byGrant.values()) {
        const [first] = slots;
        if (first) (first.grant.kind === 'share' ? share : web).push(first.grant.hash);
      }
      const now = iso(this.deps.now());
      const liveShares = await this.#live(share, (hashes) =>
        this.deps.db.k.selectFrom('share_links').select('hash').where('hash', 'in', hashes).where('revoked_at', 'is', null).where('expires_at', '>', now).execute(),
      );
      const liveWeb = await this.#live(web, (hashes) => this.deps.db.k.selectFrom('web_sessions').select('hash').where('hash', 'in', hashes).where('expires_at', '>', now).execute());
      for (const hash of share) if (!liveShares.has(hash)) this.#endGrant(`share:${hash}`, REASON.share);
      for (const hash of web) if (!liveWeb.has(hash)) this.#endGrant(`web:${hash}`, REASON.web);
    } catch (err) {
      this.deps.logger.warn({ err }, 'relay: could not check the browsers\' grants; trying again at the next tick');
    } finally {
      this.#checking = false;
    }
  }

  /** Stops the ticker and the expiry timers (API shutdown; the sockets are closed by the relay). */
  stop(): void {
    if (this.#ticker) clearInterval(this.#ticker);
    this.#ticker = null;
    for (const slots of this.#byGrant.values()) for (const slot of slots) if (slot.expiry) clearTimeout(slot.expiry);
    this.#byGrant.clear();
  }

  async #live(hashes: string[], query: (chunk: string[]) => Promise<Array<{ hash: string }>>): Promise<Set<string>> {
    const live = new Set<string>();
    for (let i = 0; i < hashes.length; i += CHUNK) for (const row of await query(hashes.slice(i, i + CHUNK))) live.add(row.hash);
    return live;
  }

  #endGrant(key: string, reason: string): void {
    for (const slot of this.#byGrant.get(key) ?? []) this.#endSlot(slot, reason);
  }

  #endSlot(slot: Slot, reason: string): void {
    if (slot.ended !== null) return;
    slot.ended = reason;
    slot.end?.(reason);
  }

  #release(key: string, slot: Slot): void {
    const slots = this.#byGrant.get(key);
    if (!slots?.delete(slot)) return;
    if (slot.expiry) clearTimeout(slot.expiry);
    if (slots.size === 0) this.#byGrant.delete(key);
    if (this.#byGrant.size === 0 && this.#ticker) {
      clearInterval(this.#ticker);
      this.#ticker = null;
    }
  }
}
