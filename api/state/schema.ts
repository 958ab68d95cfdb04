/** The tables as Kysely sees them (one interface per table; migrations.ts makes them). Booleans
 * are 0/1 integers on both databases; timestamps ISO-8601 UTC text; sizes BIGINT (numbers). */

import type { Session, SessionStatus } from '../contract/schemas.js';
import type { EgressRefusal } from '../../session-runtime/wire/network-policy.js';

/** Which database a Db is on. */
export type Dialect = 'sqlite' | 'postgres';

export interface UserRow {
  id: string;
  email: string;
  password_hash: string;
  created_at: string;
}

export type TokenKind = 'access' | 'refresh' | 'machine';

export interface TokenRow {
  hash: string;
  kind: TokenKind;
  user_id: string;
  session_id: string | null;
  expires_at: string | null;
  revoked: number;
  created_at: string;
}

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

export interface WebSessionRow {
  hash: string;
  user_id: string;
  csrf: string;
  expires_at: string;
  created_at: string;
}

/** A one-time sign-in link for the browser (`catty open`); only its code's hash is stored. */
export interface WebLinkRow {
  hash: string;
  user_id: string;
  /** The /app/… path the browser lands on. */
  next: string;
  expires_at: string;
  used: number;
  created_at: string;
}

/** A read-only share link of one session (`catty share`); only its token's hash is stored. */
export interface ShareLinkRow {
  id: string;
  hash: string;
  session_id: string;
  created_by: string;
  expires_at: string;
  revoked_at: string | null;
  created_at: string;
}

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
  /** The names of the secrets it was created with, a JSON array; null: none (or an older row). */
  secret_names: string | null;
}

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

export interface RefusalRow {
  time: string;
  method: string;
  host: string;
  port: number;
  reason: EgressRefusal['reason'];
  address: string | null;
  message: string;
}

export interface ThrottleRow {
  key: string;
  attempts: number;
  window_ends_at: string;
}

export interface AgentStateKeyRow {
  key: string;
  session_id: string;
  expected_size: number;
  created_at: string;
}

export interface Schema {
  schema_version: { version: number };
  users: UserRow;
  tokens: TokenRow;
  device_codes: DeviceCodeRow;
  web_sessions: WebSessionRow;
  web_links: WebLinkRow;
  share_links: ShareLinkRow;
  sessions: SessionRow;
  snapshots: SnapshotRow;
  egress_refusals: RefusalRow & { session_id: string; seq: number };
  login_throttle: ThrottleRow;
  agent_state_keys: AgentStateKeyRow;
}
