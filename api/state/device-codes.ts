import type { Db } from './db.js';

export type DeviceCodeStatus = 'pending' | 'approved' | 'denied' | 'consumed';

export interface DeviceCodeRow {
  hash: string;
  user_code: string;
  status: DeviceCodeStatus;
  user_id: string | null;
  interval_sec: number;
  last_polled_at: string | null;
  expires_at: string;
  created_at: string;
}

export function insertDeviceCode(db: Db, row: Omit<DeviceCodeRow, 'status' | 'user_id' | 'last_polled_at'>): void {
  db.prepare(
    "INSERT INTO device_codes (hash, user_code, status, user_id, interval_sec, last_polled_at, expires_at, created_at) VALUES (@hash, @user_code, 'pending', NULL, @interval_sec, NULL, @expires_at, @created_at)",
  ).run(row);
}

export function deviceCodeByHash(db: Db, hash: string): DeviceCodeRow | undefined {
  return db.prepare('SELECT * FROM device_codes WHERE hash = ?').get(hash) as DeviceCodeRow | undefined;
}

export function deviceCodeByUserCode(db: Db, userCode: string): DeviceCodeRow | undefined {
  return db.prepare('SELECT * FROM device_codes WHERE user_code = ?').get(userCode) as DeviceCodeRow | undefined;
}

export function updateDeviceCode(db: Db, hash: string, fields: Partial<Pick<DeviceCodeRow, 'status' | 'user_id' | 'interval_sec' | 'last_polled_at'>>): void {
  const sets = Object.keys(fields).map((k) => `${k} = @${k}`);
  if (sets.length === 0) return;
  db.prepare(`UPDATE device_codes SET ${sets.join(', ')} WHERE hash = @hash`).run({ ...fields, hash });
}
