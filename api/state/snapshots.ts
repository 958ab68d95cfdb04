/** Snapshot keys: minted (a presigned PUT was handed out) and then recorded (size checked). */
import type { Db } from './db.js';
import type { SnapshotRow } from './schema.js';
export type { SnapshotRow } from './schema.js';

/** What a report says of the agent's state part. */
export interface AgentPart {
  key: string;
  size: number;
  sha256: string;
}

export async function mintAgentKey(db: Db, row: { key: string; session_id: string; expected_size: number; created_at: string }): Promise<void> {
  await db.k.insertInto('agent_state_keys').values(row).execute();
}

export async function agentKeyMinted(db: Db, key: string): Promise<{ session_id: string; expected_size: number } | undefined> {
  return db.k.selectFrom('agent_state_keys').select(['session_id', 'expected_size']).where('key', '=', key).executeTakeFirst();
}

/** Records the agent part on its workspace snapshot's row; its minted key is used up. */
export async function recordAgentPart(db: Db, snapshotKey: string, part: AgentPart): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.k.updateTable('snapshots').set({ agent_key: part.key, agent_size: part.size, agent_sha256: part.sha256 }).where('key', '=', snapshotKey).execute();
    await tx.k.deleteFrom('agent_state_keys').where('key', '=', part.key).execute();
  });
}

export async function mintSnapshot(db: Db, row: Pick<SnapshotRow, 'key' | 'session_id' | 'expected_size' | 'created_at'>): Promise<void> {
  await db.k
    .insertInto('snapshots')
    .values({ ...row, size: null, sha256: null, recorded: 0, agent_key: null, agent_size: null, agent_sha256: null })
    .execute();
}

export async function snapshotByKey(db: Db, key: string): Promise<SnapshotRow | undefined> {
  return db.k.selectFrom('snapshots').selectAll().where('key', '=', key).executeTakeFirst();
}

/** Records a minted snapshot; false when it was recorded already (a conditional update). */
export async function recordSnapshot(db: Db, key: string, size: number, sha256: string, createdAt: string): Promise<boolean> {
  const result = await db.k.updateTable('snapshots').set({ size, sha256, recorded: 1, created_at: createdAt }).where('key', '=', key).where('recorded', '=', 0).executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/** A session's recorded snapshots, newest first. */
export async function recordedNewestFirst(db: Db, sessionId: string): Promise<SnapshotRow[]> {
  return db.k.selectFrom('snapshots').selectAll().where('session_id', '=', sessionId).where('recorded', '=', 1).orderBy('created_at', 'desc').orderBy('key', 'desc').execute();
}

export async function latestRecorded(db: Db, sessionId: string): Promise<SnapshotRow | undefined> {
  return db.k
    .selectFrom('snapshots')
    .selectAll()
    .where('session_id', '=', sessionId)
    .where('recorded', '=', 1)
    .orderBy('created_at', 'desc')
    .orderBy('key', 'desc')
    .limit(1)
    .executeTakeFirst();
}

/**
 * When each of an owner's sessions last recorded a snapshot (one query for a whole list). ISO
 * text compares byte-wise, so MAX is the newest.
 */
export async function latestSnapshotTimes(db: Db, ownerId: string): Promise<Map<string, string>> {
  const rows = await db.k
    .selectFrom('snapshots as s')
    .innerJoin('sessions as o', 'o.id', 's.session_id')
    .select((eb) => ['s.session_id as id', eb.fn.max('s.created_at').as('at')])
    .where('o.owner_id', '=', ownerId)
    .where('s.recorded', '=', 1)
    .groupBy('s.session_id')
    .execute();
  return new Map(rows.map((r) => [r.id, r.at]));
}

/** Recorded snapshots beyond the newest `keep`, oldest first. */
export async function recordedBeyond(db: Db, sessionId: string, keep: number): Promise<SnapshotRow[]> {
  // Sliced here rather than with LIMIT/OFFSET, whose "no limit" spelling differs between engines.
  return (await recordedNewestFirst(db, sessionId)).slice(keep).reverse();
}

export async function allSnapshots(db: Db, sessionId: string): Promise<SnapshotRow[]> {
  return db.k.selectFrom('snapshots').selectAll().where('session_id', '=', sessionId).execute();
}

export async function deleteSnapshotRow(db: Db, key: string): Promise<void> {
  await db.k.deleteFrom('snapshots').where('key', '=', key).execute();
}
