/**
 * The runtime's side of issue 23, item 1: `GET /git-bundle` (protocol.ts "Git") gives the
 * agent's branches as a whole bundle, refuses with a reason (no repository, no commits, over
 * `max`), and a client that said `git_home` gets its bundle after the agent exited — the
 * runtime holds its end for that request (here its exit linger is 50 ms).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect } from 'vitest';
import { test as it } from '../helpers/fixtures.js';
import { TestClient, runtimeFetch, type RuntimeProcess } from '../helpers/runtime.js';
import { elapse } from '../helpers/wait.js';

const COMMITS = 'git init -q -b main && echo x > f && git add f && GIT_AUTHOR_NAME=A GIT_AUTHOR_EMAIL=a@a GIT_COMMITTER_NAME=A GIT_COMMITTER_EMAIL=a@a git commit -q -m one && git branch side';
const agent = (script: string) => JSON.stringify(['sh', '-c', `${script}; echo READY; read line; exit 0`]);

async function getBundle(rt: RuntimeProcess, query = ''): Promise<{ status: number; type: string | null; body: Buffer }> {
  const res = await runtimeFetch(rt, `/git-bundle${query}`, { headers: rt.headers() });
  return { status: res.status, type: res.headers.get('content-type'), body: Buffer.from(await res.arrayBuffer()) };
}

describe('catty-session GET /git-bundle', () => {
  it('answers every branch as a bundle git verifies alone; refuses over max, without a repository, without commits', async ({ startRuntime }) => {
    const rt = await startRuntime({ env: { CATTY_NO_UPLOAD: '1', CATTY_AGENT_CMD: agent(COMMITS) } });
    const c = new TestClient(rt);
    await c.waitForText('READY');
    const got = await getBundle(rt);
    expect(got.status).toBe(200);
    expect(got.type).toBe('application/x-git-bundle');
    const file = path.join(rt.dir, 'got.bundle');
    fs.writeFileSync(file, got.body);
    const heads = spawnSync('git', ['bundle', 'list-heads', file], { encoding: 'utf8' }).stdout;
    expect(heads).toMatch(/ refs\/heads\/main\n/);
    expect(heads).toMatch(/ refs\/heads\/side\n/);
    expect(got.body.toString('latin1').split('\n\n')[0]).not.toMatch(/\n-/); // no prerequisites

    const small = await getBundle(rt, '?max=10');
    expect(small.status).toBe(413);
    expect(JSON.parse(small.body.toString()).error.code).toBe('too_large');
    expect((await runtimeFetch(rt, '/git-bundle')).status).toBe(401);

    const none = await startRuntime({ env: { CATTY_NO_UPLOAD: '1', CATTY_AGENT_CMD: agent('true') } });
    await new TestClient(none).waitForText('READY');
    expect(JSON.parse((await getBundle(none)).body.toString()).error.code).toBe('no_git');
    const empty = await startRuntime({ env: { CATTY_NO_UPLOAD: '1', CATTY_AGENT_CMD: agent('git init -q') } });
    await new TestClient(empty).waitForText('READY');
    const unborn = await getBundle(empty);
    expect([unborn.status, JSON.parse(unborn.body.toString()).error.code]).toEqual([409, 'no_branches']);
  });

  it('holds the end of the session for the bundle of a client that said git_home', async ({ startRuntime }) => {
    const rt = await startRuntime({ env: { CATTY_NO_UPLOAD: '1', CATTY_EXIT_LINGER_MS: '50', CATTY_AGENT_CMD: agent(COMMITS) } });
    const c = new TestClient(rt);
    await c.waitForText('READY');
    c.control({ type: 'git_home', enabled: true });
    c.send(Buffer.from('\r'));
    await c.closed;
    expect(c.ofType('exit')).toHaveLength(1);
    // On purpose: a client slow to ask (it drains its terminal and sync-back first).
    await elapse(1000);
    expect(rt.proc.exitCode).toBe(null);
    expect((await getBundle(rt)).status).toBe(200);
    expect(await rt.exited).toBe(0);

    // Control: without git_home the runtime goes after its linger.
    const other = await startRuntime({ env: { CATTY_NO_UPLOAD: '1', CATTY_EXIT_LINGER_MS: '50', CATTY_AGENT_CMD: agent(COMMITS) } });
    const d = new TestClient(other);
    await d.waitForText('READY');
    d.send(Buffer.from('\r'));
    await d.closed;
    expect(await other.exited).toBe(0);
  });
});
