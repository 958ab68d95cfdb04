/** Session rows. The connect token is stored sealed (AES-256-GCM, see crypto.ts). */
import type { Session, SessionStatus } from '../contract/schemas.js';
import { NetworkPolicy } from '../../session-runtime/wire/network-policy.js';
import type { Db } from './db.js';

export interface SessionRow {
  id: string;
  owner_id: string;
  label: string;
  status: SessionStatus;
  agent: Session['agent'];
  provisioner: string;
  connect_token_enc: string | null;
  machine_id: string | null;
  runtime_url: string | null;
  /** The runtime's Unix socket on this host; null: TCP to runtime_url (Docker, older rows). */
  runtime_socket: string | null;
  ttl_sec: number;
  created_at: string;
  last_activity_at: string;
  ended_at: string | null;
  exit_code: number | null;
  detail: string | null;
  final_logs: string | null;
  deleted: number;
  /** The network policy as JSON (NetworkPolicy); null for sessions from before policies. */
  network: string | null;
  /** `catty new --cmd`'s command line (run by sh -c); null: the agent itself. */
  cmd: string | null;
}

/** Statuses whose machine may still exist. */
export const LIVE_STATUSES: readonly SessionStatus[] = ['provisioning', 'running'];

type NewSessionRow = Omit<SessionRow, 'deleted' | 'final_logs' | 'exit_code' | 'ended_at' | 'detail' | 'machine_id' | 'runtime_url' | 'runtime_socket' | 'network' | 'cmd'> & Partial<Pick<SessionRow, 'network' | 'cmd'>>;

export function insertSession(db: Db, row: NewSessionRow): void {
  db.prepare(
    `INSERT INTO sessions (id, owner_id, label, status, agent, provisioner, connect_token_enc, ttl_sec, created_at, last_activity_at, network, cmd)
     VALUES (@id, @owner_id, @label, @status, @agent, @provisioner, @connect_token_enc, @ttl_sec, @created_at, @last_activity_at, @network, @cmd)`,
  ).run({ ...row, network: row.network ?? null, cmd: row.cmd ?? null });
}

export function updateSession(db: Db, id: string, fields: Partial<Omit<SessionRow, 'id' | 'owner_id'>>): void {
  const sets = Object.keys(fields).map((k) => `${k} = @${k}`);
  if (sets.length === 0) return;
  db.prepare(`UPDATE sessions SET ${sets.join(', ')} WHERE id = @id`).run({ ...fields, id });
}

/** Moves a session out of a live status once; false when it already ended (a race lost). */
export function endSession(db: Db, id: string, fields: { status: SessionStatus; ended_at: string; detail?: string | null; exit_code?: number | null }): boolean {
  const result = db
    .prepare(
      `UPDATE sessions SET status = @status, ended_at = @ended_at, detail = COALESCE(@detail, detail), exit_code = COALESCE(@exit_code, exit_code), connect_token_enc = NULL
       WHERE id = @id AND status IN ('provisioning', 'running')`,
    )
    .run({ id, status: fields.status, ended_at: fields.ended_at, detail: fields.detail ?? null, exit_code: fields.exit_code ?? null });
  return result.changes > 0;
}

export function sessionById(db: Db, id: string): SessionRow | undefined {
  return db.prepare('SELECT * FROM sessions WHERE id = ?').get(id) as SessionRow | undefined;
}

/** An owner's session by id or label; deleted ones do not exist. */
export function ownedSession(db: Db, ownerId: string, idOrLabel: string): SessionRow | undefined {
  return db.prepare('SELECT * FROM sessions WHERE owner_id = ? AND deleted = 0 AND (id = ? OR label = ?)').get(ownerId, idOrLabel, idOrLabel) as SessionRow | undefined;
}

export function listOwned(db: Db, ownerId: string): SessionRow[] {
  return db.prepare('SELECT * FROM sessions WHERE owner_id = ? AND deleted = 0 ORDER BY created_at DESC, id DESC').all(ownerId) as SessionRow[];
}

export function countLive(db: Db, ownerId: string): number {
  const row = db.prepare("SELECT COUNT(*) AS n FROM sessions WHERE owner_id = ? AND status IN ('provisioning', 'running')").get(ownerId) as { n: number };
  return row.n;
}

export function labelTaken(db: Db, ownerId: string, label: string): boolean {
  return db.prepare('SELECT 1 FROM sessions WHERE owner_id = ? AND label = ?').get(ownerId, label) !== undefined;
}

export function liveSessions(db: Db): SessionRow[] {
  return db.prepare("SELECT * FROM sessions WHERE status IN ('provisioning', 'running')").all() as SessionRow[];
}

/** The row's network policy; null when it has none (a session from before policies). */
export function sessionPolicy(row: SessionRow): NetworkPolicy | null {
  return row.network === null ? null : NetworkPolicy.parse(JSON.parse(row.network));
}

export function toSession(row: SessionRow): Session {
  const network = sessionPolicy(row);
  return {
    id: row.id,
    label: row.label,
    status: row.status,
    agent: row.agent,
    provisioner: row.provisioner,
    createdAt: row.created_at,
    lastActivityAt: row.last_activity_at,
    endedAt: row.ended_at,
    exitCode: row.exit_code,
    ttlSec: row.ttl_sec,
    detail: row.detail,
    ...(network ? { network } : {}),
    ...(row.cmd !== null ? { cmd: row.cmd } : {}),
  };
}
