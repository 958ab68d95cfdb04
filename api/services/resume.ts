/**
 * `catty resume` and `catty fork` (issue 23, items 2–3): a session starts again from a snapshot
 * of one that ran. Resume gives the same session (label, policy, command) a new machine and new
 * tokens — the old ones were revoked when it ended and stay dead (SECURITY.md 27); fork makes a
 * new session with the source's policy and command. Either way the chosen snapshot is read back
 * from storage and checked against the sha256 the old machine reported before anything starts:
 * one that fails is never used — the caller is told to choose the previous one instead. The
 * secrets come with the request again (the API never stores them).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { SECRETS_REQUIRED, SNAPSHOT_CORRUPT, type ForkRequest, type ResumedSession, type ResumeRequest, type Session, type SnapshotChoice } from '../contract/schemas.js';
import { encrypt, newToken, sha256Hex } from '../crypto.js';
import type { Deps } from '../deps.js';
import { conflict, HttpError } from '../errors.js';
import { iso } from '../state/db.js';
import { LIVE_STATUSES, secretNamesColumn, secretNamesOf, sessionById, sessionPolicy, toSession, updateSession, type SessionRow } from '../state/sessions.js';
import { latestSnapshotTimes, recordedNewestFirst } from '../state/snapshots.js';
import { insertToken, revokeSessionTokens } from '../state/tokens.js';
import { lockUser } from '../state/users.js';
import { DEFAULT_NETWORK_PRESET, type NetworkPolicy } from '../../session-runtime/wire/network-policy.js';
import { restartCommand as agentRestartCommand } from './agent-cmd.js';
import { checkLiveLimit, createSession, launchMachine } from './create.js';
import type { RestoreFrom } from './snapshot-send.js';
import { markEnded } from './lifecycle.js';
import { splitSecrets } from './session-credentials.js';

/** An old machine still found at resume gets this long to stop (it can store nothing: its token is dead). */
const OLD_MACHINE_GRACE_MS = 1000;
/** Presigned GETs the API reads its own snapshots through. */
const READ_URL_TTL_SEC = 300;

interface Verified extends RestoreFrom {
  createdAt: string;
  cleanup(): Promise<void>;
}

type Parsed<T> = T & { snapshot: SnapshotChoice };

/** Each session with `resumable` (ended, and a snapshot to start again from) and when its
 * latest snapshot was taken: one query for the whole list. */
export async function withResumable(deps: Deps, ownerId: string, rows: SessionRow[]): Promise<Session[]> {
  const snapshots = await latestSnapshotTimes(deps.db, ownerId);
  return rows.map((row) => ({ ...toSession(row), resumable: !LIVE_STATUSES.includes(row.status) && snapshots.has(row.id), lastSnapshotAt: snapshots.get(row.id) ?? null }));
}

/** How the caller authenticated: a browser has no secrets to send (the API never stores them). */
export interface RestartCaller {
  via: 'token' | 'browser';
}

/**
 * A browser's resume or fork of a session started with secrets is refused, naming them and the
 * line to run in a terminal, whose CLI sends them again; a request that carries them all passes.
 */
function refuseWithoutSecrets(caller: RestartCaller, row: SessionRow, request: Pick<ResumeRequest, 'secrets'>, command: 'resume' | 'fork'): void {
  if (caller.via !== 'browser') return;
  const missing = secretNamesOf(row).filter((name) => request.secrets?.[name] === undefined);
  if (missing.length === 0) return;
  throw conflict(SECRETS_REQUIRED, `this session was started with secrets (${missing.join(', ')}); the browser cannot send them — run \`catty ${command} ${row.label}\` in a terminal`);
}

export async function resumeSession(
  deps: Deps,
  ownerId: string,
  row: SessionRow,
  request: Parsed<ResumeRequest>,
  connect: (row: SessionRow) => ResumedSession,
  caller: RestartCaller = { via: 'token' },
): Promise<ResumedSession> {
  if (row.status === 'provisioning') throw conflict('session_starting', `session ${row.label} is starting; connect to it in a moment (catty connect ${row.label})`);
  if (row.status === 'running') {
    // A running session is attached to, not started twice — unless its machine is gone.
    if (row.machine_id && (await deps.provisioner.isAlive(row.machine_id))) return connect(row);
    await markEnded(deps, row.id, { status: 'stopped', detail: 'machine lost' });
    row = (await sessionById(deps.db, row.id))!;
  }
  // Whatever is left of the old machine goes first (its tokens are already revoked).
  if (row.machine_id) await deps.provisioner.stop(row.machine_id, { graceMs: OLD_MACHINE_GRACE_MS }).catch((err: unknown) => deps.logger.warn({ err, sessionId: row.id }, 'clearing the old machine failed'));
  const network = policyOf(row);
  // Refused before anything changes: secrets a browser cannot send, a bad secret or inject rule,
  // a snapshot that fails its checksum.
  refuseWithoutSecrets(caller, row, request, 'resume');
  const secrets = splitSecrets(request, network, row.agent);
  const snap = await verifiedSnapshot(deps, row, request.snapshot);
  try {
    const connectToken = newToken('cat_ct');
    const machineToken = newToken('cat_mt');
    await deps.db.transaction(async (db) => {
      // The owner's row first (as creates do): a resume racing this one, on any replica, waits
      // here and then sees the session live.
      await lockUser(db, ownerId);
      const now = await sessionById(db, row.id);
      if (!now || now.deleted || LIVE_STATUSES.includes(now.status)) throw conflict('session_starting', `session ${row.label} was started again meanwhile`);
      await checkLiveLimit({ ...deps, db }, ownerId);
      // The old machine's tokens were revoked when it ended; this makes sure of it.
      await revokeSessionTokens(db, row.id);
      const at = iso(deps.now());
      await updateSession(db, row.id, {
        status: 'provisioning',
        connect_token_enc: encrypt(deps.key, connectToken, `connect:${row.id}`),
        machine_id: null,
        runtime_url: null,
        runtime_socket: null,
        ended_at: null,
        exit_code: null,
        detail: null,
        last_activity_at: at,
        // The secrets it runs with from now on (those this start sent).
        secret_names: secretNamesColumn(request.secrets),
      });
      await insertToken(db, { hash: sha256Hex(machineToken), kind: 'machine', user_id: ownerId, session_id: row.id, expires_at: null, created_at: at });
    });
    deps.logger.info({ sessionId: row.id, snapshot: snap.createdAt }, 'resuming session');
    const created = await launchMachine(deps, { id: row.id, ownerId, label: row.label, network, connectToken, machineToken }, {
      agentCmd: restartCommand(row, snap),
      secrets,
      upload: true,
      restore: snap,
    });
    return { ...created, alreadyRunning: false, snapshotAt: snap.createdAt };
  } finally {
    await snap.cleanup();
  }
}

export async function forkSession(
  deps: Deps,
  ownerId: string,
  source: SessionRow,
  request: Parsed<ForkRequest>,
  snapshotNow: (row: SessionRow) => Promise<void>,
  caller: RestartCaller = { via: 'token' },
): Promise<ResumedSession> {
  refuseWithoutSecrets(caller, source, request, 'fork');
  // A running source first stores what its workspace holds now.
  await snapshotNow(source);
  const network = policyOf(source);
  // `catty fork --agent` may start another agent on the same workspace.
  const agent = request.agent ?? source.agent;
  splitSecrets(request, network, agent);
  const snap = await verifiedSnapshot(deps, source, request.snapshot);
  // The source agent's conversations are no use to another agent: they stay behind.
  const { agent: sourceState, ...workspaceOnly } = snap;
  const restore: RestoreFrom = agent === source.agent && sourceState ? { ...workspaceOnly, agent: sourceState } : workspaceOnly;
  try {
    const created = await createSession(
      deps,
      ownerId,
      {
        agent,
        ...(source.cmd !== null ? { cmd: source.cmd } : {}),
        ttlSec: source.ttl_sec,
        network,
        ...(request.secrets ? { secrets: request.secrets } : {}),
        ...(request.inject ? { inject: request.inject } : {}),
        upload: true,
      },
      { ...(request.label !== undefined ? { label: request.label } : {}), restore, agentCmd: restartCommand({ agent, cmd: source.cmd }, restore) },
    );
    return { ...created, alreadyRunning: false, snapshotAt: snap.createdAt };
  } finally {
    await snap.cleanup();
  }
}

/**
 * The command a session starts again with: its own, continuing the agent's conversation when the
 * snapshot brought it back (agent-cmd.ts).
 */
function restartCommand(row: Pick<SessionRow, 'agent' | 'cmd'>, snap: RestoreFrom): string[] {
  return agentRestartCommand(row.agent, row.cmd, snap.agent !== undefined);
}

function policyOf(row: SessionRow): NetworkPolicy {
  return sessionPolicy(row) ?? { preset: DEFAULT_NETWORK_PRESET, allow: [] };
}

/**
 * The chosen snapshot, read from storage into a private temp file and checked against its
 * recorded size and sha256. 404 `no_snapshot` when there is none; 409 `snapshot_corrupt` when it
 * fails the check (or is gone), naming the previous one when there is one.
 */
export async function verifiedSnapshot(deps: Deps, row: SessionRow, choice: SnapshotChoice): Promise<Verified> {
  const recorded = (await recordedNewestFirst(deps.db, row.id)).filter((s) => s.size !== null && s.sha256 !== null);
  const index = choice === 'latest' ? 0 : 1;
  const snap = recorded[index];
  if (!snap) {
    if (recorded.length === 0) throw new HttpError(404, 'no_snapshot', `session ${row.label} has no snapshot to start from`);
    throw new HttpError(404, 'no_snapshot', `session ${row.label} has no snapshot before the newest one`);
  }
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'catty-resume-'));
  const cleanup = (): Promise<void> => fsp.rm(dir, { recursive: true, force: true });
  const file = path.join(dir, 'snapshot.tar.gz');
  const agentFile = path.join(dir, 'agent.tar.gz');
  try {
    // The agent's state is part of the snapshot: either failing its check fails the snapshot.
    const problem = (await readChecked(deps, { key: snap.key, size: snap.size!, sha256: snap.sha256! }, file)) ?? (snap.agent_key ? await readChecked(deps, { key: snap.agent_key, size: snap.agent_size!, sha256: snap.agent_sha256! }, agentFile) : null);
    if (problem) {
      deps.logger.warn({ sessionId: row.id, key: snap.key, problem }, 'snapshot fails its check');
      const which = index === 0 ? 'newest snapshot' : 'snapshot before the newest';
      const offer = index === 0 && recorded[1] ? `; start from the one before it (taken ${recorded[1].created_at}) with --snapshot previous` : '; there is no earlier snapshot to start from';
      throw new HttpError(409, SNAPSHOT_CORRUPT, `the ${which} of ${row.label} (taken ${snap.created_at}) ${problem} and was not used${offer}`);
    }
    return { file, size: snap.size!, ...(snap.agent_key ? { agent: { file: agentFile, size: snap.agent_size! } } : {}), createdAt: snap.created_at, cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

/** Copies the object into `file`, hashing it; the problem with it, or null when it matches. */
async function readChecked(deps: Deps, snap: { key: string; size: number; sha256: string }, file: string): Promise<string | null> {
  const res = await fetch(await deps.storage.presignGet(snap.key, READ_URL_TTL_SEC));
  if (res.status === 404) return 'is missing from storage';
  if (!res.ok || !res.body) throw new Error(`storage answered ${res.status} for a snapshot`);
  const hash = createHash('sha256');
  let size = 0;
  const expected = snap.size;
  let tooLong = false;
  const meter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      size += chunk.length;
      // More than recorded is already a mismatch: stop reading.
      if (size > expected) {
        tooLong = true;
        return done(new Error('longer than recorded'));
      }
      hash.update(chunk);
      done(null, chunk);
    },
  });
  try {
    await pipeline(Readable.fromWeb(res.body as import('node:stream/web').ReadableStream), meter, fs.createWriteStream(file, { flags: 'wx', mode: 0o600 }));
  } catch (err) {
    if (!tooLong) throw err;
  }
  if (size !== expected) return `fails its checksum (${tooLong ? `more than ${expected}` : size} bytes stored, ${expected} recorded)`;
  return hash.digest('hex') === snap.sha256 ? null : 'fails its checksum';
}
