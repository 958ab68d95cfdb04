/**
 * The files of a running session for the browser view (issue 24, item 5): the workspace tree with
 * the agent's changes marked, and one file's diff against its upload/restore base. The runtime
 * computes both (`GET /files`, `GET /files/diff?path=`, session-runtime/wire/protocol.ts); the API
 * asks it directly with the session's connect token, as it does for logs. The machine is
 * untrusted: its answer is capped, has a deadline, and is parsed with the seam's schemas before
 * it is passed on (the page renders every string in it as text). Owners come through
 * `sessionFiles`/`sessionFileDiff`, share links through shares.ts.
 */
import type { Hono } from 'hono';
import { routes } from '../contract/routes.js';
import { decrypt } from '../crypto.js';
import type { AppEnv, Deps } from '../deps.js';
import { conflict, HttpError, notFound } from '../errors.js';
import { jsonBody } from '../middleware/json-body.js';
import { requestRuntime, rowEndpoint } from '../services/runtime-client.js';
import type { SessionRow } from '../state/sessions.js';
import { ErrorBody } from '../../session-runtime/wire/errors.js';
import { FileDiff, FileTree, RuntimePath } from '../../session-runtime/wire/protocol.js';
import type * as z from '../../session-runtime/wire/zod.js';
import { ownedSessionOr404 } from './owned-session.js';
import { registrar, reply } from './register.js';

/** The runtime gets this long to walk the workspace or read one file's two sides. */
const FILES_TIMEOUT_MS = 10_000;
/**
 * The largest answer read back. A tree is at most MAX_TREE_ENTRIES entries and a diff two sides of
 * at most MAX_DIFF_TEXT_BYTES of text each; JSON escaping can make either several times bigger.
 */
const MAX_FILES_ANSWER_BYTES = 16 * 1024 * 1024;

/** The workspace tree of a running session, changes marked. */
export function runtimeTree(deps: Deps, row: SessionRow): Promise<FileTree> {
  return askRuntime(deps, row, RuntimePath.files, FileTree);
}

/** One file of a running session against its base. */
export function runtimeDiff(deps: Deps, row: SessionRow, path: string): Promise<FileDiff> {
  return askRuntime(deps, row, `${RuntimePath.fileDiff}?path=${encodeURIComponent(path)}`, FileDiff);
}

async function askRuntime<S extends z.ZodMiniType>(deps: Deps, row: SessionRow, target: string, schema: S): Promise<z.infer<S>> {
  const runtime = rowEndpoint(row, deps.provisioner.runtimeTls);
  if (row.status !== 'running' || !runtime || !row.connect_token_enc) throw conflict('session_ended', `session ${row.label} is ${row.status}; its files are in its snapshot (catty download ${row.label})`);
  const connectToken = decrypt(deps.key, row.connect_token_enc, `connect:${row.id}`);
  const what = target.split('?')[0]!;
  let answer;
  try {
    answer = await requestRuntime(runtime, target, { headers: { authorization: `Bearer ${connectToken}` }, timeoutMs: FILES_TIMEOUT_MS, maxBytes: MAX_FILES_ANSWER_BYTES });
  } catch (err) {
    deps.logger.warn({ sessionId: row.id, err }, `runtime did not answer GET ${what}`);
    throw new HttpError(502, 'runtime_unavailable', `session ${row.label} did not answer; try again in a moment`);
  }
  if (answer.status === 200) {
    const parsed = schema.safeParse(parseJson(answer.body));
    if (parsed.success) return parsed.data;
    deps.logger.warn({ sessionId: row.id }, `runtime answered GET ${what} with something that is not its shape`);
    throw new HttpError(502, 'runtime_bad_answer', `session ${row.label} answered something that is not a file listing`);
  }
  // The runtime's own refusals of a path (400: not a workspace path; 404: no such file) are
  // passed on with its message: one line, capped (the page shows it as text).
  if (what === RuntimePath.fileDiff && (answer.status === 400 || answer.status === 404)) {
    const error = ErrorBody.safeParse(parseJson(answer.body));
    const text = error.success ? error.data.error.message.replace(/[\r\n]+/g, ' ').slice(0, 300) : 'no such file';
    throw answer.status === 404 ? notFound(text) : new HttpError(400, 'invalid_request', text);
  }
  deps.logger.warn({ sessionId: row.id, status: answer.status }, `runtime refused GET ${what}`);
  throw new HttpError(502, 'runtime_refused', `session ${row.label} refused to show its files (HTTP ${answer.status})`);
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
}

export function fileRoutes(app: Hono<AppEnv>, deps: Deps): void {
  const on = registrar(app, deps);

  const find = (userId: string, idOrLabel: string): Promise<SessionRow> => ownedSessionOr404(deps.db, userId, idOrLabel);

  on(routes.sessionFiles, async (c) => {
    const row = await find(c.get('userId'), c.req.param('ref'));
    return reply(c, routes.sessionFiles, await runtimeTree(deps, row));
  });

  on(routes.sessionFileDiff, async (c) => {
    const row = await find(c.get('userId'), c.req.param('ref'));
    const body = await jsonBody(c, routes.sessionFileDiff.request);
    return reply(c, routes.sessionFileDiff, await runtimeDiff(deps, row, body.path));
  });
}
