/**
 * Migrations on both databases: an empty database comes up at the newest version, a second run
 * changes nothing, a SQLite file written by the earlier (synchronous, better-sqlite3) code opens
 * with its data, and processes starting together on one empty database migrate it once.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { openDatabase } from '../../api/state/db.js';
import { MIGRATIONS } from '../../api/state/migrations.js';
import { latestRecorded, mintSnapshot, recordSnapshot } from '../../api/state/snapshots.js';
import { listOwned } from '../../api/state/sessions.js';
import { userByEmail } from '../../api/state/users.js';
import { freshDatabaseUrl } from '../helpers/postgres.js';
import { REPO_ROOT } from '../helpers/paths.js';
import { tempDir } from '../helpers/temp-dir.js';

const kinds = ['sqlite', 'postgres'] as const;

async function emptyTarget(kind: (typeof kinds)[number]): Promise<string> {
  return kind === 'postgres' ? freshDatabaseUrl({ migrated: false }) : join(tempDir('state-migrate'), 'catty.db');
}

describe.each(kinds)('migrations on %s', (kind) => {
  it('bring an empty database to the newest version; running them again is a no-op', async () => {
    const target = await emptyTarget(kind);
    const first = await openDatabase(target);
    const versions = async () => (await first.k.selectFrom('schema_version').select('version').orderBy('version').execute()).map((r) => r.version);
    expect(await versions()).toEqual(MIGRATIONS.map((_, i) => i + 1));
    await first.k.insertInto('users').values({ id: 'u1', email: 'a@example.com', password_hash: 'h', created_at: '2026-01-01T00:00:00.000Z' }).execute();
    const second = await openDatabase(target);
    expect(await versions()).toEqual(MIGRATIONS.map((_, i) => i + 1));
    expect(await userByEmail(second, 'a@example.com')).toMatchObject({ id: 'u1' });
    await second.close();
    await first.close();
  });

  it('processes starting together on one empty database apply each migration once', async () => {
    const target = await emptyTarget(kind);
    const dbModule = join(REPO_ROOT, 'dist/api/state/db.js');
    // Loaded first, then all at one moment: the migrations themselves overlap, not the starts.
    const script = `import(${JSON.stringify(dbModule)}).then(async (m) => { await new Promise((r) => setTimeout(r, Number(process.argv[2]) - Date.now())); const db = await m.openDatabase(process.argv[1]); await db.close(); console.log('migrated'); })`;
    const go = String(Date.now() + 2000);
    const runs = Array.from({ length: 6 }, () =>
      new Promise<{ code: number | null; out: string }>((resolve) => {
        const child = spawn(process.execPath, ['-e', script, target, go], { stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        child.stderr.on('data', (d: Buffer) => (out += d.toString()));
        child.on('exit', (code) => resolve({ code, out }));
      }),
    );
    const results = await Promise.all(runs);
    for (const r of results) expect(r, r.out).toMatchObject({ code: 0 });
    const db = await openDatabase(target);
    const rows = await db.k.selectFrom('schema_version').select('version').orderBy('version').execute();
    expect(rows.map((r) => r.version)).toEqual(MIGRATIONS.map((_, i) => i + 1));
    await db.close();
  }, 60_000);
});

describe('a SQLite file from the earlier code', () => {
  it('opens with its data and its version; new rows take sizes past 2^31', async () => {
    const file = join(tempDir('state-legacy'), 'catty.db');
    // What the synchronous migrate() of earlier versions did: each migration's SQL with exec(),
    // then its schema_version row.
    const old = new Database(file);
    old.pragma('journal_mode = WAL');
    old.exec('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)');
    RELEASED_SQL.forEach((sql, i) => {
      old.exec(sql);
      old.prepare('INSERT INTO schema_version (version) VALUES (?)').run(i + 1);
    });
    old.prepare("INSERT INTO users (id, email, password_hash, created_at) VALUES ('u1', 'old@example.com', 'h', '2025-01-01T00:00:00.000Z')").run();
    old
      .prepare(
        "INSERT INTO sessions (id, owner_id, label, status, agent, provisioner, ttl_sec, created_at, last_activity_at, network, cmd) VALUES ('s1', 'u1', 'calm-otter-0001', 'stopped', 'shell', 'local', 60, '2025-01-01T00:00:00.000Z', '2025-01-01T00:00:00.000Z', NULL, 'make test')",
      )
      .run();
    old.close();

    const db = await openDatabase(file);
    expect((await db.k.selectFrom('schema_version').select('version').execute()).map((r) => r.version)).toEqual(MIGRATIONS.map((_, i) => i + 1));
    expect(await userByEmail(db, 'old@example.com')).toMatchObject({ id: 'u1' });
    expect(await listOwned(db, 'u1')).toMatchObject([{ id: 's1', label: 'calm-otter-0001', cmd: 'make test', deleted: 0 }]);
    const big = 5 * 2 ** 31;
    await mintSnapshot(db, { key: 'k1', session_id: 's1', expected_size: big, created_at: '2025-01-01T00:00:01.000Z' });
    expect(await recordSnapshot(db, 'k1', big, 'a'.repeat(64), '2025-01-01T00:00:02.000Z')).toBe(true);
    expect(await latestRecorded(db, 's1')).toMatchObject({ key: 'k1', size: big, expected_size: big });
    await db.close();
  });
});

/** The migrations as earlier versions released them (one SQL string each): the test data of
 * files written by those versions. */
const RELEASED_SQL: readonly string[] = [
  // 1: accounts, tokens, device codes, sessions, snapshots
  `
  CREATE TABLE users (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at TEXT NOT NULL
  );
  CREATE TABLE tokens (
    hash TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(id),
    session_id TEXT,
    expires_at TEXT,
    revoked INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
  );
  CREATE INDEX tokens_session ON tokens(session_id);
  CREATE TABLE device_codes (
    hash TEXT PRIMARY KEY,
    user_code TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL,
    user_id TEXT REFERENCES users(id),
    interval_sec INTEGER NOT NULL,
    last_polled_at TEXT,
    expires_at TEXT NOT NULL,
    created_at TEXT NOT NULL
  );
  CREATE TABLE web_sessions (
    hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id),
    csrf TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    created_at TEXT NOT NULL
  );
  CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    owner_id TEXT NOT NULL REFERENCES users(id),
    label TEXT NOT NULL,
    status TEXT NOT NULL,
    agent TEXT NOT NULL,
    provisioner TEXT NOT NULL,
    connect_token_enc TEXT,
    machine_id TEXT,
    runtime_url TEXT,
    ttl_sec INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    last_activity_at TEXT NOT NULL,
    ended_at TEXT,
    exit_code INTEGER,
    detail TEXT,
    final_logs TEXT,
    deleted INTEGER NOT NULL DEFAULT 0,
    UNIQUE (owner_id, label)
  );
  CREATE INDEX sessions_owner ON sessions(owner_id, created_at);
  CREATE TABLE snapshots (
    key TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions(id),
    expected_size INTEGER NOT NULL,
    size INTEGER,
    sha256 TEXT,
    recorded INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
  );
  CREATE INDEX snapshots_session ON snapshots(session_id, recorded, created_at);
  `,
  // 2: the runtime's Unix socket on the API host (local machines), beside its base URL
  `
  ALTER TABLE sessions ADD COLUMN runtime_socket TEXT;
  `,
  // 3: each session's network policy (JSON; NULL before policies existed) and the requests its
  // egress proxy refused (`catty logs --net`), numbered per session, the newest 500 kept
  `
  ALTER TABLE sessions ADD COLUMN network TEXT;
  CREATE TABLE egress_refusals (
    session_id TEXT NOT NULL REFERENCES sessions(id),
    seq INTEGER NOT NULL,
    time TEXT NOT NULL,
    method TEXT NOT NULL,
    host TEXT NOT NULL,
    port INTEGER NOT NULL,
    reason TEXT NOT NULL,
    address TEXT,
    message TEXT NOT NULL,
    PRIMARY KEY (session_id, seq)
  );
  `,
  // 4: the sign-in throttle's counters (api/auth/throttle.ts), shared by every API replica:
  // attempts per account and per client address (keys are hashes), until the window ends
  `
  CREATE TABLE login_throttle (
    key TEXT PRIMARY KEY,
    attempts INTEGER NOT NULL,
    window_ends_at TEXT NOT NULL
  );
  CREATE INDEX login_throttle_window ON login_throttle(window_ends_at);
  `,
  // 5: the command line a session runs instead of its agent (`catty new --cmd`), so `catty
  // resume` and `catty fork` start the same one; NULL: the agent itself
  `
  ALTER TABLE sessions ADD COLUMN cmd TEXT;
  `,
  // 6: the agent's own state beside a snapshot (Claude Code's transcripts, never credentials):
  // its object on the workspace snapshot's row once reported, and the keys minted for it until then
  `
  ALTER TABLE snapshots ADD COLUMN agent_key TEXT;
  ALTER TABLE snapshots ADD COLUMN agent_size INTEGER;
  ALTER TABLE snapshots ADD COLUMN agent_sha256 TEXT;
  CREATE TABLE agent_state_keys (
    key TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions(id),
    expected_size INTEGER NOT NULL,
    created_at TEXT NOT NULL
  );
  `,
];
