/** The one lookup behind every `/v1/sessions/:ref/…` route: the caller's own session by id or
 * label; anyone else's, a deleted one or a ref too long to be either is a 404, said the same way. */
import type { Db } from '../state/db.js';
import { notFound } from '../errors.js';
import { ownedSession, type SessionRow } from '../state/sessions.js';

export async function ownedSessionOr404(db: Db, userId: string, idOrLabel: string): Promise<SessionRow> {
  const row = idOrLabel.length > 200 ? undefined : await ownedSession(db, userId, idOrLabel);
  if (!row) throw notFound(`no session ${JSON.stringify(idOrLabel.slice(0, 200))}`);
  return row;
}
