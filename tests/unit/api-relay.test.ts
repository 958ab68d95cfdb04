/** The relay's pure parts: backpressure with water marks, close-code mirroring, paths, auth. */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { encrypt } from '../../api/crypto.js';
import { authorizeRelay } from '../../api/relay/authorize.js';
import { Forwarder, HIGH_WATER_BYTES, LOW_WATER_BYTES, type Readable, type Writable } from '../../api/relay/backpressure.js';
import { mirrorClose } from '../../api/relay/close-codes.js';
import { clientConnectInfo, matchRelayPath } from '../../api/relay/paths.js';
import { openTestDb } from '../helpers/postgres.js';
import { insertSession, updateSession } from '../../api/state/sessions.js';

/** A socket we read from: counts pauses and resumes. */
class FakeReadable implements Readable {
  isPaused = false;
  pauses = 0;
  resumes = 0;
  pause() {
    this.isPaused = true;
    this.pauses += 1;
  }
  resume() {
    this.isPaused = false;
    this.resumes += 1;
  }
}

/** A socket we write to: holds sends until `flush` hands them to the "kernel". */
class FakeWritable implements Writable {
  readonly queue: Array<{ data: Buffer; binary: boolean; done: () => void }> = [];
  readonly sent: Array<{ data: Buffer; binary: boolean }> = [];
  get bufferedAmount() {
    return this.queue.reduce((n, q) => n + q.data.length, 0);
  }
  send(data: Buffer, options: { binary: boolean }, callback: () => void) {
    this.queue.push({ data, binary: options.binary, done: callback });
  }
  flush(count = this.queue.length) {
    for (const q of this.queue.splice(0, count)) {
      this.sent.push({ data: q.data, binary: q.binary });
      q.done();
    }
  }
}

const KiB = 1024;

describe('relay backpressure (Forwarder)', () => {
  it('keeps each message’s type and order', () => {
    const from = new FakeReadable();
    const to = new FakeWritable();
    const f = new Forwarder(from, to);
    f.forward(Buffer.from('{"type":"hello"}'), false);
    f.forward(Buffer.from([0, 1, 2]), true);
    to.flush();
    expect(to.sent).toEqual([
      { data: Buffer.from('{"type":"hello"}'), binary: false },
      { data: Buffer.from([0, 1, 2]), binary: true },
    ]);
    expect(from.pauses).toBe(0);
  });

  it('pauses the reader above the high-water mark and resumes it only below the low-water mark', () => {
    const from = new FakeReadable();
    const to = new FakeWritable();
    const f = new Forwarder(from, to);
    const frame = Buffer.alloc(64 * KiB);
    const frames = Math.ceil(HIGH_WATER_BYTES / frame.length) + 1;
    for (let i = 0; i < frames; i++) f.forward(frame, true);
    expect(to.bufferedAmount).toBeGreaterThan(HIGH_WATER_BYTES);
    expect(from.isPaused).toBe(true);
    expect(f.heldBack).toBe(true);
    expect(from.pauses).toBe(1); // once, not per frame
    // Drain to just above the low-water mark: still paused (hysteresis).
    const keep = Math.floor(LOW_WATER_BYTES / frame.length) + 1;
    to.flush(frames - keep);
    expect(to.bufferedAmount).toBeGreaterThanOrEqual(LOW_WATER_BYTES);
    expect(from.isPaused).toBe(true);
    // Frame by frame: paused while at or above the low-water mark, resumed once below it.
    while (to.bufferedAmount >= LOW_WATER_BYTES) {
      expect(from.isPaused).toBe(true);
      to.flush(1);
    }
    expect(from.isPaused).toBe(false);
    expect(from.resumes).toBe(1);
    expect(to.queue.length + to.sent.length).toBe(frames); // nothing lost on the way
  });

  it('stop() releases a held-back reader and forwards nothing more', () => {
    const from = new FakeReadable();
    const to = new FakeWritable();
    const f = new Forwarder(from, to, { highWaterBytes: 10, lowWaterBytes: 5 });
    f.forward(Buffer.alloc(20), true);
    expect(from.isPaused).toBe(true);
    f.stop();
    expect(from.isPaused).toBe(false);
    f.forward(Buffer.alloc(1), true);
    expect(to.queue).toHaveLength(1);
    to.flush();
    expect(from.pauses).toBe(1);
  });

  it('refuses marks without hysteresis', () => {
    expect(() => new Forwarder(new FakeReadable(), new FakeWritable(), { highWaterBytes: 10, lowWaterBytes: 10 })).toThrow(/lowWaterBytes/);
  });
});

describe('close codes across the relay', () => {
  it('passes protocol codes through with their reasons', () => {
    for (const code of [1000, 1001, 1008, 1009, 1011, 4000, 4001]) expect(mirrorClose(code, `why ${code}`)).toEqual({ code, reason: `why ${code}` });
  });
  it('maps codes a close frame cannot carry', () => {
    expect(mirrorClose(1005, '')).toEqual({ code: 1000, reason: '' });
    expect(mirrorClose(1006, '').code).toBe(1001);
    expect(mirrorClose(1015, '').code).toBe(1001);
    expect(mirrorClose(1004, '').code).toBe(1001);
  });
  it('keeps reasons within 123 bytes of UTF-8', () => {
    const { reason } = mirrorClose(4001, 'é'.repeat(100));
    expect(Buffer.byteLength(reason)).toBeLessThanOrEqual(123);
    expect(reason.startsWith('éé')).toBe(true);
  });
});

describe('relay paths and connectUrl', () => {
  it('matches only the three runtime routes of a well-formed session id', () => {
    expect(matchRelayPath('/v1/sessions/0123abcd/runtime/connect')).toEqual({ sessionId: '0123abcd', op: 'connect' });
    expect(matchRelayPath('/v1/sessions/0123abcd/runtime/upload')?.op).toBe('upload');
    expect(matchRelayPath('/v1/sessions/0123abcd/runtime/logs')?.op).toBe('logs');
    for (const p of ['/v1/sessions/0123abcd/runtime/healthz', '/v1/sessions/../runtime/upload', '/v1/sessions/calm-otter-0001/runtime/upload', '/v1/sessions/0123abcd/logs', '/v1/sessions/0123abcd/runtime/upload/x']) {
      expect(matchRelayPath(p)).toBeNull();
    }
  });
  it('points at the API only when a public URL is configured; else at the runtime, through its socket when it has one', () => {
    const relay = { connectUrl: 'https://catty.example.com/v1/sessions/abc/runtime' };
    expect(clientConnectInfo({ publicUrl: 'https://catty.example.com' }, 'abc', { url: 'http://10.0.0.5:8080' })).toEqual(relay);
    // The socket is the API host's: a laptop reaching the API through its public URL never gets it.
    expect(clientConnectInfo({ publicUrl: 'https://catty.example.com' }, 'abc', { url: 'http://localhost', socketPath: '/data/machines/abc/run/runtime.sock' })).toEqual(relay);
    expect(clientConnectInfo({ publicUrl: null }, 'abc', { url: 'http://127.0.0.1:41234' })).toEqual({ connectUrl: 'http://127.0.0.1:41234' });
    expect(clientConnectInfo({ publicUrl: null }, 'abc', { url: 'http://localhost', socketPath: '/data/machines/abc/run/runtime.sock' })).toEqual({
      connectUrl: 'http://localhost',
      socketPath: '/data/machines/abc/run/runtime.sock',
    });
  });
});

describe('relay authorization', () => {
  async function setup() {
    const db = await openTestDb();
    await db.k.insertInto('users').values({ id: 'u1', email: 'a@b.c', password_hash: 'x', created_at: '2026-01-01T00:00:00Z' }).execute();
    const key = randomBytes(32);
    const token = `cat_ct_${randomBytes(8).toString('hex')}`;
    const id = 'a1b2c3';
    await insertSession(db, { id, owner_id: 'u1', label: 'calm-otter-0001', status: 'running', agent: 'shell', provisioner: 'local', connect_token_enc: encrypt(key, token, `connect:${id}`), ttl_sec: 60, created_at: 'x', last_activity_at: 'x' });
    await updateSession(db, id, { runtime_url: 'http://127.0.0.1:9999' });
    return { db, key, token, id };
  }

  it('accepts the running session’s connect token and gives the runtime to forward to', async () => {
    const { db, key, token, id } = await setup();
    expect(await authorizeRelay({ db, key }, id, `Bearer ${token}`)).toEqual({ ok: true, runtime: { url: 'http://127.0.0.1:9999' }, connectToken: token });
    await updateSession(db, id, { runtime_url: 'http://localhost', runtime_socket: '/data/machines/a1b2c3/run/runtime.sock' });
    expect(await authorizeRelay({ db, key }, id, `Bearer ${token}`)).toEqual({ ok: true, runtime: { url: 'http://localhost', socketPath: '/data/machines/a1b2c3/run/runtime.sock' }, connectToken: token });
  });

  it('refuses a wrong or missing token (401), an unknown session (404), an ended one (409)', async () => {
    const { db, key, token, id } = await setup();
    expect(await authorizeRelay({ db, key }, id, `Bearer ${token}x`)).toMatchObject({ ok: false, status: 401 });
    expect(await authorizeRelay({ db, key }, id, undefined)).toMatchObject({ ok: false, status: 401 });
    expect(await authorizeRelay({ db, key }, id, token)).toMatchObject({ ok: false, status: 401 });
    expect(await authorizeRelay({ db, key }, 'ffff', `Bearer ${token}`)).toMatchObject({ ok: false, status: 404 });
    await updateSession(db, id, { status: 'stopped', connect_token_enc: null });
    expect(await authorizeRelay({ db, key }, id, `Bearer ${token}`)).toMatchObject({ ok: false, status: 409, code: 'session_ended' });
  });
});
