/** Session rows. The connect token is stored sealed (AES-256-GCM, see crypto.ts). */
import type { Session, SessionStatus } from '../contract/schemas.js';
import { NetworkPolicy } from '../../session-runtime/wire/network-policy.js';
import type { Db } from './db.js';
import type { SessionRow } from './schema.js';
export type { SessionRow } from './schema.js';

/** Statuses whose machine may still exist. */
export const LIVE_STATUSES: readonly SessionStatus[] = ['provisioning', 'running'];

type NewSessionRow = Omit<SessionRow, 'deleted' | 'final_logs' | 'exit_code' | 'ended_at' | 'detail' | 'machine_id' | 'runtime_url' | 'runtime_socket' | 'network' | 'cmd' | 'secret_names'> &
  Partial<Pick<SessionRow, 'network' | 'cmd' | 'secret_names'>>;

export async function insertSession(db: Db, row: NewSessionRow): Promise<void> {
  await db.k
    .insertInto('sessions')
    .values({ ...row, network: row.network ?? null, cmd: row.cmd ?? null, secret_names: row.secret_names ?? null, machine_id: null, runtime_url: null, runtime_socket: null, ended_at: null, exit_code: null, detail: null, final_logs: null, deleted: 0 })
    .execute();
}

export async function updateSession(db: Db, id: string, fields: Partial<Omit<SessionRow, 'id' | 'owner_id'>>): Promise<void> {
  if (Object.keys(fields).length === 0) return;
  await db.k.updateTable('sessions').set(fields).where('id', '=', id).execute();
}

/** Moves a session out of a live status once; false when it already ended (a race lost). */
export async function endSession(db: Db, id: string, fields: { status: SessionStatus; ended_at: string; detail?: string | null; exit_code?: number | null }): Promise<boolean> {
  const result = await db.k
    .updateTable('sessions')
    .set((eb) => ({
      status: fields.status,
      ended_at: fields.ended_at,
      detail: eb.fn.coalesce(eb.val(fields.detail ?? null), eb.ref('detail')),
      exit_code: eb.fn.coalesce(eb.val(fields.exit_code ?? null), eb.ref('exit_code')),
      connect_token_enc: null,
    }))
    .where('id', '=', id)
    .where('status', 'in', LIVE_STATUSES)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

export async function sessionById(db: Db, id: string): Promise<SessionRow | undefined> {
  return db.k.selectFrom('sessions').selectAll().where('id', '=', id).executeTakeFirst();
}

/** An owner's session by id or label; deleted ones do not exist. */
export async function ownedSession(db: Db, ownerId: string, idOrLabel: string): Promise<SessionRow | undefined> {
  return db.k
    .selectFrom('sessions')
    .selectAll()
    .where('owner_id', '=', ownerId)
    .where('deleted', '=', 0)
    .where((eb) => eb.or([eb('id', '=', idOrLabel), eb('label', '=', idOrLabel)]))
    .executeTakeFirst();
}

export async function listOwned(db: Db, ownerId: string): Promise<SessionRow[]> {
  return db.k.selectFrom('sessions').selectAll().where('owner_id', '=', ownerId).where('deleted', '=', 0).orderBy('created_at', 'desc').orderBy('id', 'desc').execute();
}

export async function countLive(db: Db, ownerId: string): Promise<number> {
  const row = await db.k
    .selectFrom('sessions')
    .select((eb) => eb.fn.countAll().as('n'))
    .where('owner_id', '=', ownerId)
    .where('status', 'in', LIVE_STATUSES)
    .executeTakeFirstOrThrow();
  // COUNT(*) is BIGINT on Postgres: a number here by db.ts's type parser.
  return Number(row.n);
}

export async function labelTaken(db: Db, ownerId: string, label: string): Promise<boolean> {
  return (await db.k.selectFrom('sessions').select('id').where('owner_id', '=', ownerId).where('label', '=', label).executeTakeFirst()) !== undefined;
}

export async function liveSessions(db: Db): Promise<SessionRow[]> {
  return db.k.selectFrom('sessions').selectAll().where('status', 'in', LIVE_STATUSES).execute();
}

/** The secret names a row's session was started with, as recorded (SECRETS_REQUIRED). */
export function secretNamesOf(row: Pick<SessionRow, 'secret_names'>): string[] {
  if (row.secret_names === null) return [];
  const names: unknown = JSON.parse(row.secret_names);
  return Array.isArray(names) ? names.filter((n): n is string => typeof n === 'string') : [];
}

/** What `secret_names` records for a request's secrets: their names, sorted; null for none. */
export function secretNamesColumn(secrets: Record<string, string> | undefined): string | null {
  const names = Object.keys(secrets ?? {}).sort();
  return names.length > 0 ? JSON.stringify(names) : null;
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
