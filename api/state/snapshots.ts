/** Snapshot keys: minted (a presigned PUT was handed out) and then recorded (size checked). */
import type { Db } from './db.js';

export interface SnapshotRow {
  key: string;
  session_id: string;
  expected_size: number;
  size: number | null;
  sha256: string | null;
  recorded: number;
  created_at: string;
  /** The agent's own state beside it (session-runtime/agent-state.ts); null: none. */
  agent_key: string | null;
  agent_size: number | null;
  agent_sha256: string | null;
}

/** What a report says of the agent's state part. */
export interface AgentPart {
  key: string;
  size: number;
  sha256: string;
}

export function mintAgentKey(db: Db, row: { key: string; session_id: string; expected_size: number; created_at: string }): void {
  db.prepare('INSERT INTO agent_state_keys (key, session_id, expected_size, created_at) VALUES (@key, @session_id, @expected_size, @created_at)').run(row);
}

export function agentKeyMinted(db: Db, key: string): { session_id: string; expected_size: number } | undefined {
  return db.prepare('SELECT session_id, expected_size FROM agent_state_keys WHERE key = ?').get(key) as { session_id: string; expected_size: number } | undefined;
}

/** Records the agent part on its workspace snapshot's row; its minted key is used up. */
export function recordAgentPart(db: Db, snapshotKey: string, part: AgentPart): void {
  db.prepare('UPDATE snapshots SET agent_key = ?, agent_size = ?, agent_sha256 = ? WHERE key = ?').run(part.key, part.size, part.sha256, snapshotKey);
  db.prepare('DELETE FROM agent_state_keys WHERE key = ?').run(part.key);
}

export function mintSnapshot(db: Db, row: Pick<SnapshotRow, 'key' | 'session_id' | 'expected_size' | 'created_at'>): void {
  db.prepare('INSERT INTO snapshots (key, session_id, expected_size, recorded, created_at) VALUES (@key, @session_id, @expected_size, 0, @created_at)').run(row);
}

export function snapshotByKey(db: Db, key: string): SnapshotRow | undefined {
  return db.prepare('SELECT * FROM snapshots WHERE key = ?').get(key) as SnapshotRow | undefined;
}

export function recordSnapshot(db: Db, key: string, size: number, sha256: string, createdAt: string): void {
  db.prepare('UPDATE snapshots SET size = ?, sha256 = ?, recorded = 1, created_at = ? WHERE key = ?').run(size, sha256, createdAt, key);
}

export function latestRecorded(db: Db, sessionId: string): SnapshotRow | undefined {
  return db.prepare('SELECT * FROM snapshots WHERE session_id = ? AND recorded = 1 ORDER BY created_at DESC, key DESC LIMIT 1').get(sessionId) as SnapshotRow | undefined;
}

/** A session's recorded snapshots, newest first. */
export function recordedNewestFirst(db: Db, sessionId: string): SnapshotRow[] {
  return db.prepare('SELECT * FROM snapshots WHERE session_id = ? AND recorded = 1 ORDER BY created_at DESC, key DESC').all(sessionId) as SnapshotRow[];
}

/** Which of an owner's sessions have at least one recorded snapshot. */
export function sessionsWithSnapshots(db: Db, ownerId: string): Set<string> {
  const rows = db.prepare('SELECT DISTINCT s.session_id AS id FROM snapshots s JOIN sessions o ON o.id = s.session_id WHERE o.owner_id = ? AND s.recorded = 1').all(ownerId) as { id: string }[];
  return new Set(rows.map((r) => r.id));
}

/** Recorded snapshots beyond the newest `keep`, oldest first. */
export function recordedBeyond(db: Db, sessionId: string, keep: number): SnapshotRow[] {
  // Sliced here rather than with LIMIT/OFFSET, whose "no limit" spelling differs between engines.
  const rows = db.prepare('SELECT * FROM snapshots WHERE session_id = ? AND recorded = 1 ORDER BY created_at DESC, key DESC').all(sessionId) as SnapshotRow[];
  return rows.slice(keep).reverse();
}

export function allSnapshots(db: Db, sessionId: string): SnapshotRow[] {
  return db.prepare('SELECT * FROM snapshots WHERE session_id = ?').all(sessionId) as SnapshotRow[];
}

export function deleteSnapshotRow(db: Db, key: string): void {
  db.prepare('DELETE FROM snapshots WHERE key = ?').run(key);
}
