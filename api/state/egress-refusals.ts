/**
 * What each session's egress proxy refused, for `catty logs --net`: numbered per session (a
 * portable sequence, no autoincrement) and trimmed to the newest REFUSALS_KEPT on each append,
 * so a session that keeps knocking costs a bounded number of rows.
 */
import type { EgressRefusal } from '../../session-runtime/wire/network-policy.js';
import type { Db } from './db.js';

export const REFUSALS_KEPT = 500;

interface RefusalRow {
  time: string;
  method: string;
  host: string;
  port: number;
  reason: EgressRefusal['reason'];
  address: string | null;
  message: string;
}

/** Appends in one transaction, oldest first, then drops all but the newest `keep`. */
export function appendRefusals(db: Db, sessionId: string, refusals: readonly EgressRefusal[], keep = REFUSALS_KEPT): void {
  if (refusals.length === 0) return;
  db.transaction(() => {
    const { last } = db.prepare('SELECT COALESCE(MAX(seq), 0) AS last FROM egress_refusals WHERE session_id = ?').get(sessionId) as { last: number };
    const insert = db.prepare(
      `INSERT INTO egress_refusals (session_id, seq, time, method, host, port, reason, address, message)
       VALUES (@session_id, @seq, @time, @method, @host, @port, @reason, @address, @message)`,
    );
    let seq = last;
    for (const r of refusals) insert.run({ session_id: sessionId, seq: ++seq, time: r.time, method: r.method, host: r.host, port: r.port, reason: r.reason, address: r.address ?? null, message: r.message });
    db.prepare('DELETE FROM egress_refusals WHERE session_id = ? AND seq <= ?').run(sessionId, seq - keep);
  })();
}

/** The session's refusals, newest last. */
export function listRefusals(db: Db, sessionId: string): EgressRefusal[] {
  const rows = db.prepare('SELECT time, method, host, port, reason, address, message FROM egress_refusals WHERE session_id = ? ORDER BY seq').all(sessionId) as RefusalRow[];
  return rows.map(({ address, ...rest }) => (address === null ? rest : { ...rest, address }));
}

export function deleteRefusals(db: Db, sessionId: string): void {
  db.prepare('DELETE FROM egress_refusals WHERE session_id = ?').run(sessionId);
}
