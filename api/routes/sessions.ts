/** A user's own sessions only; anyone else's is a 404. */
import type { Hono } from 'hono';
import { routes } from '../contract/routes.js';
import type { ConnectInfo } from '../contract/schemas.js';
import { decrypt } from '../crypto.js';
import type { AppEnv, Deps } from '../deps.js';
import { conflict, HttpError } from '../errors.js';
import { clientConnectInfo } from '../relay/paths.js';
import { jsonBody } from '../middleware/json-body.js';
import { createSession } from '../services/create.js';
import { requestRuntime, rowEndpoint } from '../services/runtime-client.js';
import { deleteSession, stopAndEnd } from '../services/lifecycle.js';
import { forkSession, resumeSession, withResumable } from '../services/resume.js';
import { listOwned, sessionById, toSession, type SessionRow } from '../state/sessions.js';
import { latestRecorded } from '../state/snapshots.js';
import { RuntimePath } from '../../session-runtime/wire/protocol.js';
import { ownedSessionOr404 } from './owned-session.js';
import { registrar, reply } from './register.js';

/** Presigned download URLs live this long. */
const DOWNLOAD_URL_TTL_SEC = 300;
/** A running runtime gets this long to answer GET /logs. */
const LOGS_TIMEOUT_MS = 5000;
/** The runtime answers the last 64 KiB of its output; anything much longer is not its answer. */
const MAX_LOGS_BYTES = 1024 * 1024;
/** POST /snapshot answers a small JSON object (its outcome is read from the snapshots table). */
const MAX_SNAPSHOT_ANSWER_BYTES = 64 * 1024;
/**
 * A running runtime gets this long to take a fresh snapshot for a download (a 100 MB workspace
 * takes ~7 s here); past it, the latest stored one is served.
 */
const SNAPSHOT_NOW_TIMEOUT_MS = 30_000;

export function sessionRoutes(app: Hono<AppEnv>, deps: Deps): void {
  const on = registrar(app, deps);

  const find = (userId: string, idOrLabel: string): Promise<SessionRow> => ownedSessionOr404(deps.db, userId, idOrLabel);

  const connectInfo = (row: SessionRow): ConnectInfo => {
    const runtime = rowEndpoint(row, deps.provisioner.runtimeTls);
    if (row.status !== 'running' || !row.connect_token_enc || !runtime) throw conflict('session_ended', `session ${row.label} is ${row.status}`);
    return { ...clientConnectInfo(deps.config, row.id, runtime), connectToken: decrypt(deps.key, row.connect_token_enc, `connect:${row.id}`) };
  };

  on(routes.createSession, async (c) => {
    const body = await jsonBody(c, routes.createSession.request);
    return reply(c, routes.createSession, await createSession(deps, c.get('userId'), body));
  });

  on(routes.listSessions, async (c) => reply(c, routes.listSessions, { sessions: await withResumable(deps, c.get('userId'), await listOwned(deps.db, c.get('userId'))) }));

  on(routes.getSession, async (c) => reply(c, routes.getSession, (await withResumable(deps, c.get('userId'), [await find(c.get('userId'), c.req.param('ref'))]))[0]!));

  on(routes.connect, async (c) => reply(c, routes.connect, connectInfo(await find(c.get('userId'), c.req.param('ref')))));

  on(routes.stop, async (c) => {
    const row = await find(c.get('userId'), c.req.param('ref'));
    if (row.status === 'running' || row.status === 'provisioning') await stopAndEnd(deps, row.id, { status: 'stopped', detail: 'stopped by the user' });
    return reply(c, routes.stop, toSession((await sessionById(deps.db, row.id))!));
  });

  on(routes.deleteSession, async (c) => {
    await deleteSession(deps, await find(c.get('userId'), c.req.param('ref')));
    return reply(c, routes.deleteSession, { ok: true });
  });

  /**
   * Asks a running session's runtime for a snapshot now, so a download holds what the workspace
   * holds, not what it held up to 30 s ago. The runtime stores and reports it (a new latest
   * row) before it answers. Any failure leaves the latest stored snapshot to be served.
   */
  const snapshotNow = async (row: SessionRow): Promise<void> => {
    const runtime = rowEndpoint(row, deps.provisioner.runtimeTls);
    if (row.status !== 'running' || !runtime || !row.connect_token_enc) return;
    const { connectToken } = connectInfo(row);
    try {
      // The outcome shows in the snapshots table; the untrusted answer is only capped and dropped.
      const res = await requestRuntime(runtime, RuntimePath.snapshot, { method: 'POST', headers: { authorization: `Bearer ${connectToken}` }, timeoutMs: SNAPSHOT_NOW_TIMEOUT_MS, maxBytes: MAX_SNAPSHOT_ANSWER_BYTES });
      // 409: the runtime takes no snapshots yet (its upload has not come), a normal case.
      if (res.status === 409) deps.logger.info({ sessionId: row.id }, 'runtime takes no snapshots yet');
      else if (res.status !== 200) deps.logger.warn({ sessionId: row.id, status: res.status }, 'runtime refused POST /snapshot');
    } catch (err) {
      deps.logger.warn({ sessionId: row.id, err }, 'runtime did not answer POST /snapshot');
    }
  };

  on(routes.download, async (c) => {
    const row = await find(c.get('userId'), c.req.param('ref'));
    await snapshotNow(row);
    const snap = await latestRecorded(deps.db, row.id);
    if (!snap || snap.size === null || snap.sha256 === null) throw new HttpError(404, 'no_snapshot', `session ${row.label} has no snapshot yet`);
    return reply(c, routes.download, {
      url: await deps.storage.presignGet(snap.key, DOWNLOAD_URL_TTL_SEC),
      size: snap.size,
      sha256: snap.sha256,
      createdAt: snap.created_at,
      expiresIn: DOWNLOAD_URL_TTL_SEC,
    });
  });

  on(routes.resume, async (c) => {
    const body = await jsonBody(c, routes.resume.request);
    const userId = c.get('userId');
    const connect = (row: SessionRow) => ({ ...toSession(row), ...connectInfo(row), alreadyRunning: true, snapshotAt: null });
    return reply(c, routes.resume, await resumeSession(deps, userId, await find(userId, c.req.param('ref')), body, connect, { via: c.get('via') }));
  });

  on(routes.fork, async (c) => {
    const body = await jsonBody(c, routes.fork.request);
    const userId = c.get('userId');
    return reply(c, routes.fork, await forkSession(deps, userId, await find(userId, c.req.param('ref')), body, snapshotNow, { via: c.get('via') }));
  });

  on(routes.logs, async (c) => {
    const row = await find(c.get('userId'), c.req.param('ref'));
    const runtime = rowEndpoint(row, deps.provisioner.runtimeTls);
    if (row.status === 'running' && runtime && row.connect_token_enc) {
      const { connectToken } = connectInfo(row);
      try {
        // The API reaches the runtime directly, never through its own relay.
        const res = await requestRuntime(runtime, RuntimePath.logs, { headers: { authorization: `Bearer ${connectToken}` }, timeoutMs: LOGS_TIMEOUT_MS, maxBytes: MAX_LOGS_BYTES });
        if (res.status === 200) return reply(c, routes.logs, { data: res.body.toString('base64') });
        deps.logger.warn({ sessionId: row.id, status: res.status }, 'runtime refused GET /logs');
      } catch (err) {
        deps.logger.warn({ sessionId: row.id, err }, 'runtime did not answer GET /logs');
      }
    }
    return reply(c, routes.logs, { data: row.final_logs ?? '' });
  });

  on(routes.netLog, async (c) => reply(c, routes.netLog, { refusals: await deps.egress.refusals((await find(c.get('userId'), c.req.param('ref'))).id) }));
}
