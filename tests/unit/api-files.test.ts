/**
 * The files routes against a runtime that lies (the machine is untrusted): an answer that is not
 * JSON, JSON of another shape, one past the size cap, a refusal whose message holds line breaks
 * and markup → the API answers its own errors (502, or the runtime's 404 as one line), never the
 * runtime's bytes. createApp over fake dependencies, the session's runtime URL pointed at a real
 * HTTP server that answers as told. The honest runtime: ../integration/web-routes.test.ts.
 */
import { createServer, type ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { routes } from '../../api/contract/routes.js';
import { CreatedSession } from '../../api/contract/schemas.js';
import { appWithTwoUsers, call } from '../helpers/api-fakes.js';
import { onCleanup } from '../helpers/cleanup.js';
import { closeServer, listenLoopback } from '../helpers/loopback.js';

type Answer = (res: ServerResponse) => void;

/** A session of alice's whose runtime is a server answering `answer` to everything; what it was asked. */
async function lyingRuntime(answer: { current: Answer }) {
  const { deps, app, alice, bob } = await appWithTwoUsers();
  const s = CreatedSession.parse((await call(app, routes.createSession, { token: alice, body: {} })).body);
  const asked: string[] = [];
  const server = createServer((req, res) => {
    asked.push(`${req.method} ${req.url} ${req.headers.authorization === `Bearer ${s.connectToken}` ? 'with-token' : 'no-token'}`);
    answer.current(res);
  });
  const { url } = await listenLoopback(server);
  onCleanup(() => closeServer(server));
  await deps.db.k.updateTable('sessions').set({ runtime_url: url }).where('id', '=', s.id).execute();
  return { app, alice, bob, s, asked };
}

const json = (body: unknown, status = 200): Answer => (res) => {
  res.statusCode = status;
  res.setHeader('content-type', 'application/json');
  res.end(typeof body === 'string' ? body : JSON.stringify(body));
};

describe('files from an untrusted runtime', () => {
  it('asks with the connect token, on the paths of the seam; an honest answer is passed on', async () => {
    const answer = { current: json({ entries: [{ path: 'a.txt', kind: 'file', size: 1, change: 'added' }], truncated: false, base: 'upload' }) };
    const { app, alice, s, asked } = await lyingRuntime(answer);
    const tree = await call(app, routes.sessionFiles, { token: alice, params: { ref: s.label } });
    expect(tree.status).toBe(200);
    expect(tree.body.entries).toEqual([{ path: 'a.txt', kind: 'file', size: 1, change: 'added' }]);
    answer.current = json({ path: 'a b/ü&x.txt', change: 'added', base: null, current: { size: 1, sha256: 'x', kind: 'text', text: 'x' } });
    expect((await call(app, routes.sessionFileDiff, { token: alice, params: { ref: s.label }, body: { path: 'a b/ü&x.txt' } })).status).toBe(200);
    expect(asked).toEqual(['GET /files with-token', 'GET /files/diff?path=a%20b%2F%C3%BC%26x.txt with-token']);
  });

  it('not JSON, another shape, past the cap → 502 with a message of its own', async () => {
    const answer = { current: json('<html><script>alert(1)</script>') };
    const { app, alice, s } = await lyingRuntime(answer);
    const cases: Array<[string, Answer]> = [
      ['not JSON', json('<html><script>alert(1)</script>')],
      ['another shape', json({ entries: [{ path: 1, kind: 'socket' }], truncated: 'no', base: 'upload' })],
      ['an entry with a negative size', json({ entries: [{ path: 'a', kind: 'file', size: -1 }], truncated: false, base: 'upload' })],
      ['past the cap', json(JSON.stringify({ entries: [], truncated: false, base: 'upload', pad: 'x'.repeat(17 * 1024 * 1024) }))],
      ['a 500', json({ error: { code: 'boom', message: '<b>internal</b>' } }, 500)],
    ];
    for (const [what, lie] of cases) {
      answer.current = lie;
      const res = await call(app, routes.sessionFiles, { token: alice, params: { ref: s.label } });
      expect(res.status, what).toBe(502);
      expect(JSON.stringify(res.body), what).not.toMatch(/script|internal|xxxx/);
    }
  });

  it("a diff's refusal is passed on as one line of text; the tree's 404 is the API's 502", async () => {
    const answer = { current: json({ error: { code: 'not_found', message: 'no such file:\r\n<script>x</script>' } }, 404) };
    const { app, alice, s } = await lyingRuntime(answer);
    const diff = await call(app, routes.sessionFileDiff, { token: alice, params: { ref: s.label }, body: { path: 'x' } });
    expect(diff.status).toBe(404);
    expect(diff.body.error.message).toBe('no such file: <script>x</script>');
    expect((await call(app, routes.sessionFiles, { token: alice, params: { ref: s.label } })).status).toBe(502);
  });

  it("another user's session is a 404 before the runtime is asked", async () => {
    const answer = { current: json({ entries: [], truncated: false, base: 'none' }) };
    const { app, bob, s, asked } = await lyingRuntime(answer);
    for (const ref of [s.id, s.label]) {
      expect((await call(app, routes.sessionFiles, { token: bob, params: { ref } })).status).toBe(404);
      expect((await call(app, routes.sessionFileDiff, { token: bob, params: { ref }, body: { path: 'a' } })).status).toBe(404);
    }
    expect(asked).toEqual([]);
  });
});
