/**
 * Callbacks from session machines, which are untrusted. A machine may only name
 * snapshot keys minted for its own session, and a report is believed only after a HEAD shows
 * the object really has the reported size.
 */
import { randomBytes } from 'node:crypto';
import type { Hono } from 'hono';
import { routes } from '../contract/routes.js';
import type { AppEnv, Deps } from '../deps.js';
import { badRequest, HttpError } from '../errors.js';
import { jsonBody } from '../middleware/json-body.js';
import { stopAndEnd, track } from '../services/lifecycle.js';
import { iso } from '../state/db.js';
import { sessionById, updateSession } from '../state/sessions.js';
import { agentKeyMinted, deleteSnapshotRow, mintAgentKey, mintSnapshot, recordAgentPart, recordedBeyond, recordSnapshot, snapshotByKey } from '../state/snapshots.js';
import { registrar, reply } from './register.js';

/** Presigned PUTs live this long: long enough for a big snapshot on a slow link. */
const PUT_URL_TTL_SEC = 900;
/** Largest snapshot a machine may announce. */
const MAX_SNAPSHOT_BYTES = 20 * 1024 * 1024 * 1024;
/** Final logs kept per session (decoded). */
const MAX_LOG_BYTES = 64 * 1024;

export function runtimeRoutes(app: Hono<AppEnv>, deps: Deps): void {
  const on = registrar(app, deps);

  on(routes.presign, async (c) => {
    const { size, part } = await jsonBody(c, routes.presign.request);
    if (size > MAX_SNAPSHOT_BYTES) throw new HttpError(413, 'payload_too_large', `snapshots are limited to ${MAX_SNAPSHOT_BYTES} bytes`);
    const sessionId = c.get('sessionId');
    const now = iso(deps.now());
    const stem = `sessions/${sessionId}/snapshots/${now.replace(/[:.]/g, '-')}-${randomBytes(4).toString('hex')}`;
    // The agent's state is its own object, never a snapshot row: downloads serve only workspaces.
    const key = part === 'agent' ? `${stem}.agent.tar.gz` : `${stem}.tar.gz`;
    if (part === 'agent') await mintAgentKey(deps.db, { key, session_id: sessionId, expected_size: size, created_at: now });
    else await mintSnapshot(deps.db, { key, session_id: sessionId, expected_size: size, created_at: now });
    const put = await deps.storage.presignPut(key, size, PUT_URL_TTL_SEC);
    return reply(c, routes.presign, { key, url: put.url, headers: put.headers });
  });

  on(routes.reportSnapshot, async (c) => {
    const report = await jsonBody(c, routes.reportSnapshot.request);
    const sessionId = c.get('sessionId');
    const minted = await snapshotByKey(deps.db, report.key);
    if (!minted || minted.session_id !== sessionId) throw badRequest('this key was not minted for this session');
    if (minted.recorded) throw new HttpError(409, 'already_recorded', 'this snapshot was already recorded');
    if (minted.expected_size !== report.size) throw badRequest(`size ${report.size} differs from the presigned size ${minted.expected_size}`);
    const head = await deps.storage.head(report.key);
    if (!head || head.size !== report.size) throw badRequest('the stored object is missing or has a different size');
    if (report.agent) {
      const agent = await agentKeyMinted(deps.db, report.agent.key);
      if (!agent || agent.session_id !== sessionId) throw badRequest('the agent state key was not minted for this session');
      if (agent.expected_size !== report.agent.size) throw badRequest(`agent state size ${report.agent.size} differs from the presigned size ${agent.expected_size}`);
      const agentHead = await deps.storage.head(report.agent.key);
      if (!agentHead || agentHead.size !== report.agent.size) throw badRequest('the stored agent state is missing or has a different size');
    }
    // Recorded once: of two reports of one key racing (a retry, two replicas), one wins.
    if (!(await recordSnapshot(deps.db, report.key, report.size, report.sha256, iso(deps.now())))) throw new HttpError(409, 'already_recorded', 'this snapshot was already recorded');
    if (report.agent) await recordAgentPart(deps.db, report.key, report.agent);
    // Keep the newest N; objects are immutable, so older ones simply go.
    for (const old of await recordedBeyond(deps.db, sessionId, deps.config.snapshotsKept)) {
      await deps.storage.delete(old.key);
      if (old.agent_key) await deps.storage.delete(old.agent_key);
      await deleteSnapshotRow(deps.db, old.key);
    }
    return reply(c, routes.reportSnapshot, { ok: true });
  });

  on(routes.heartbeat, async (c) => {
    const beat = await jsonBody(c, routes.heartbeat.request);
    const row = (await sessionById(deps.db, c.get('sessionId')))!;
    const now = deps.now();
    // Activity = a client attached now, or the agent's last output.
    const activityMs = beat.clients > 0 ? now : now - beat.idleMs;
    if (activityMs > Date.parse(row.last_activity_at)) await updateSession(deps.db, row.id, { last_activity_at: iso(activityMs) });
    return reply(c, routes.heartbeat, { ok: true });
  });

  on(routes.uploadLogs, async (c) => {
    const { data } = await jsonBody(c, routes.uploadLogs.request);
    const bytes = Buffer.from(data, 'base64');
    if (bytes.length > MAX_LOG_BYTES) throw badRequest(`logs are limited to ${MAX_LOG_BYTES} bytes`);
    await updateSession(deps.db, c.get('sessionId'), { final_logs: bytes.toString('base64') });
    return reply(c, routes.uploadLogs, { ok: true });
  });

  // The agent exited; the runtime already sent its final snapshot. The session ends now and
  // its machine goes in the background.
  on(routes.exit, async (c) => {
    const report = await jsonBody(c, routes.exit.request);
    const sessionId = c.get('sessionId');
    const detail = report.code !== null ? `agent exited with code ${report.code}` : `agent killed by signal ${report.signal ?? 'unknown'}`;
    await updateSession(deps.db, sessionId, { exit_code: report.code });
    track(deps, stopAndEnd(deps, sessionId, { status: 'stopped', detail, exitCode: report.code }));
    return reply(c, routes.exit, { ok: true });
  });
}
