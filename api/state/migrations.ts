/**
 * Schema migrations, in order, for SQLite and Postgres alike; each runs once, in one transaction
 * with the schema_version row that records it (migrate.ts). A migration is a list of single
 * statements (pg runs one per query). Written in portable SQL: TEXT, INTEGER and BIGINT, ISO-8601
 * UTC timestamps as TEXT; `forDialect` below is the one place where a type is spelt per database.
 * Append; never edit a released entry (SQLite files from earlier versions hold its schema_version).
 */
import type { Dialect } from './schema.js';

/**
 * SQLite's INTEGER is 64-bit already (and earlier files say INTEGER: the same affinity). On
 * Postgres INTEGER is 32-bit, so sizes are BIGINT; and TEXT is compared byte-wise ("C"), as on
 * SQLite: timestamps are fixed-width toISOString() strings, whose byte order is time order,
 * while a locale's collation would not promise that (nor order ids the same on both databases).
 */
export function forDialect(statement: string, dialect: Dialect): string {
  return dialect === 'sqlite' ? statement.replace(/\bBIGINT\b/g, 'INTEGER') : statement.replace(/\bTEXT\b/g, 'TEXT COLLATE "C"');
}

export const MIGRATIONS: ReadonlyArray<readonly string[]> = [
  // 1: accounts, tokens, device codes, sessions, snapshots
  [
    `CREATE TABLE users (
      id TEXT PRIMARY KEY,
      email TEXT NOT NULL UNIQUE,
      password_hash TEXT NOT NULL,
      created_at TEXT NOT NULL
    )`,
    `CREATE TABLE tokens (
      hash TEXT PRIMARY KEY,
      kind TEXT NOT NULL,
      user_id TEXT NOT NULL REFERENCES users(id),
      session_id TEXT,
      expires_at TEXT,
      revoked INTEGER NOT NULL DEFAULT 0,
      created_at TEXT NOT NULL
    )`,
    `CREATE INDEX tokens_session ON tokens(session_id)`,
    `CREATE TABLE device_codes (
      hash TEXT PRIMARY KEY,
      user_code TEXT NOT NULL UNIQUE,
      status TEXT NOT NULL,
      user_id TEXT REFERENCES users(id),
      interval_sec INTEGER NOT NULL,
      last_polled_at TEXT,
      expires_at TEXT NOT NULL,
      created_at TEXT NOT NULL
    )`,
    `CREATE TABLE web_sessions (
      hash TEXT PRIMARY KEY,
      user_id TEXT NOT NULL REFERENCES users(id),
      csrf TEXT NOT NULL,
      expires_at TEXT NOT NULL,
      created_at TEXT NOT NULL
    )`,
    `CREATE TABLE sessions (
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
    )`,
    `CREATE INDEX sessions_owner ON sessions(owner_id, created_at)`,
    `CREATE TABLE snapshots (
      key TEXT PRIMARY KEY,
      session_id TEXT NOT NULL REFERENCES sessions(id),
      expected_size BIGINT NOT NULL,
      size BIGINT,
      sha256 TEXT,
      recorded INTEGER NOT NULL DEFAULT 0,
      created_at TEXT NOT NULL
    )`,
    `CREATE INDEX snapshots_session ON snapshots(session_id, recorded, created_at)`,
  ],
  // 2: the runtime's Unix socket on the API host (local machines), beside its base URL
  [
    `ALTER TABLE sessions ADD COLUMN runtime_socket TEXT`,
  ],
  // 3: each session's network policy (JSON; NULL before policies existed) and the requests its
  // egress proxy refused (`catty logs --net`), numbered per session, the newest 500 kept
  [
    `ALTER TABLE sessions ADD COLUMN network TEXT`,
    `CREATE TABLE egress_refusals (
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
    )`,
  ],
  // 4: the sign-in throttle's counters (api/auth/throttle.ts), shared by every API replica:
  // attempts per account and per client address (keys are hashes), until the window ends
  [
    `CREATE TABLE login_throttle (
      key TEXT PRIMARY KEY,
      attempts INTEGER NOT NULL,
      window_ends_at TEXT NOT NULL
    )`,
    `CREATE INDEX login_throttle_window ON login_throttle(window_ends_at)`,
  ],
  // 5: the command line a session runs instead of its agent (`catty new --cmd`), so `catty
  // resume` and `catty fork` start the same one; NULL: the agent itself
  [
    `ALTER TABLE sessions ADD COLUMN cmd TEXT`,
  ],
  // 6: the agent's own state beside a snapshot (Claude Code's transcripts, never credentials):
  // its object on the workspace snapshot's row once reported, and the keys minted for it until then
  [
    `ALTER TABLE snapshots ADD COLUMN agent_key TEXT`,
    `ALTER TABLE snapshots ADD COLUMN agent_size BIGINT`,
    `ALTER TABLE snapshots ADD COLUMN agent_sha256 TEXT`,
    `CREATE TABLE agent_state_keys (
      key TEXT PRIMARY KEY,
      session_id TEXT NOT NULL REFERENCES sessions(id),
      expected_size BIGINT NOT NULL,
      created_at TEXT NOT NULL
    )`,
  ],
  // 7: replicas (shared mode): leases for background work run once across replicas
  // (api/state/leases.ts), the stop of a session claimed by one replica, and the key canary that
  // each replica's CATTY_SECRET_KEY must open (api/state/key-canary.ts)
  [
    `CREATE TABLE leases (
      name TEXT PRIMARY KEY,
      holder TEXT NOT NULL,
      expires_at TEXT NOT NULL
    )`,
    `CREATE TABLE stop_claims (
      session_id TEXT PRIMARY KEY,
      claimed_at TEXT NOT NULL
    )`,
    `CREATE TABLE key_canary (
      id TEXT PRIMARY KEY,
      sealed TEXT NOT NULL,
      updated_at TEXT NOT NULL
    )`,
  ],
  // 8: the browser view (issue 24): one-time sign-in links minted by the CLI (`catty open`),
  // read-only share links (`catty share`), and the names of the secrets a session was created
  // with (a JSON array), so a browser's resume — which has none to send — is refused by name
  [
    `CREATE TABLE web_links (
      hash TEXT PRIMARY KEY,
      user_id TEXT NOT NULL REFERENCES users(id),
      next TEXT NOT NULL,
      expires_at TEXT NOT NULL,
      used INTEGER NOT NULL DEFAULT 0,
      created_at TEXT NOT NULL
    )`,
    `CREATE TABLE share_links (
      id TEXT PRIMARY KEY,
      hash TEXT NOT NULL UNIQUE,
      session_id TEXT NOT NULL REFERENCES sessions(id),
      created_by TEXT NOT NULL REFERENCES users(id),
      expires_at TEXT NOT NULL,
      revoked_at TEXT,
      created_at TEXT NOT NULL
    )`,
    `CREATE INDEX share_links_session ON share_links(session_id)`,
    `ALTER TABLE sessions ADD COLUMN secret_names TEXT`,
  ],
];
