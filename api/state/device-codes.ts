import type { Db } from './db.js';
import type { DeviceCodeStatus, DeviceCodeRow } from './schema.js';
export type { DeviceCodeStatus, DeviceCodeRow } from './schema.js';

export async function insertDeviceCode(db: Db, row: Omit<DeviceCodeRow, 'status' | 'user_id' | 'last_polled_at'>): Promise<void> {
  await db.k
    .insertInto('device_codes')
    .values({ ...row, status: 'pending', user_id: null, last_polled_at: null })
    .execute();
}

export async function deviceCodeByHash(db: Db, hash: string): Promise<DeviceCodeRow | undefined> {
  return db.k.selectFrom('device_codes').selectAll().where('hash', '=', hash).executeTakeFirst();
}

export async function deviceCodeByUserCode(db: Db, userCode: string): Promise<DeviceCodeRow | undefined> {
  return db.k.selectFrom('device_codes').selectAll().where('user_code', '=', userCode).executeTakeFirst();
}

type DeviceCodeFields = Partial<Pick<DeviceCodeRow, 'status' | 'user_id' | 'interval_sec' | 'last_polled_at'>>;

export async function updateDeviceCode(db: Db, hash: string, fields: DeviceCodeFields): Promise<void> {
  if (Object.keys(fields).length === 0) return;
  await db.k.updateTable('device_codes').set(fields).where('hash', '=', hash).execute();
}

/**
 * Moves a code from status `from` to the fields given, only if it is still in `from`: true when
 * this caller made the move. Two replicas (or two polls) racing on one code: one wins, the other
 * sees false, so an approval is turned into tokens once.
 */
export async function moveDeviceCode(db: Db, hash: string, from: DeviceCodeStatus, fields: DeviceCodeFields): Promise<boolean> {
  const result = await db.k.updateTable('device_codes').set(fields).where('hash', '=', hash).where('status', '=', from).executeTakeFirst();
  return result.numUpdatedRows > 0n;
}
