/**
 * catty-node (issue 20, item 2), with real processes: the built catty-api (local provisioner,
 * bubblewrap) starts its catty-node detached; a probe agent (tests/fixtures/agents/egress-probe.mjs)
 * CONNECTs through $HTTPS_PROXY to a loopback HTTPS server named with --allow, and to example.com
 * (refused, logged). The API SIGKILLed: the agent keeps reaching its host while no API runs, and
 * the refusals of that time are in `catty logs --net` once it is back (SECURITY.md 35). The node
 * SIGKILLed: the agent's next request fails (the runtime's bridge answers 502) while the terminal
 * keeps answering; the API starts a new node and the agent gets through again. Both gone: the
 * session listens again with its policy, and the API says its credentials are gone.
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decrypt, loadOrCreateKey } from '../../api/crypto.js';
import { bwrapProblem, findBwrap } from '../../api/provisioners/bwrap.js';
import { sessionById } from '../../api/state/sessions.js';
import { nodeDirOf } from '../../api/node/paths.js';
import { startTestApi, type TestApi } from '../helpers/api.js';
import { runCli } from '../helpers/cli.js';
import { saveLogin } from '../helpers/credentials.js';
import { startUpstream, testCert } from '../helpers/egress.js';
import { FIXTURE_AGENTS } from '../helpers/paths.js';
import { tempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/wait.js';

const PROBE = fs.readFileSync(path.join(FIXTURE_AGENTS, 'egress-probe.mjs'));
const bwrap = findBwrap();
const why = !bwrap ? 'bubblewrap (bwrap) is not installed' : bwrapProblem(bwrap);
if (why) console.log(`[catty-node] sessions skipped: ${why}`);

interface ProbeLine {
  target: string;
  status: number;
  body: string;
}

describe.skipIf(why !== null)('catty-node holds the sessions\' egress across API and node deaths', () => {
  let api: TestApi;
  let home: string;
  let upstream: Awaited<ReturnType<typeof startUpstream>>;

  beforeAll(async () => {
    api = await startTestApi({ env: { CATTY_LOCAL_SANDBOX: 'bwrap', CATTY_LOCAL_SPARE: '0' } });
    home = tempDir('node-home');
    saveLogin(home, { apiUrl: api.url, accessToken: api.token });
    upstream = await startUpstream({ secure: true });
  }, 120_000);
  afterAll(async () => {
    await api?.close();
  });

  const cli = (argv: string[], cwd?: string) => runCli(argv, { home, cwd, env: { CATTY_API_URL: api.url } });

  /** A session whose agent probes `targets` every 200 ms; its label and id. */
  async function loopingProbe(targets: string[]): Promise<{ label: string; id: string }> {
    const dir = tempDir('node-proj');
    fs.writeFileSync(path.join(dir, 'egress-probe.mjs'), PROBE);
    fs.writeFileSync(path.join(dir, 'ca.pem'), testCert().cert);
    const allowed = `127.0.0.1:${upstream.port}`;
    const run = await cli(['new', '--detach', '--allow', allowed, '--cmd', `exec ${process.execPath} egress-probe.mjs ${targets.join(' ')} --loop 200`], dir);
    expect(run.code, run.stderr).toBe(0);
    const label = run.stdout.trim().split('\n').at(-1)!;
    const listed = (JSON.parse((await cli(['list', '--json'])).stdout) as Array<{ label: string; id: string }>).find((s) => s.label === label)!;
    return { label, id: listed.id };
  }

  const hits = (): number => upstream.seen.length;
  const waitForHits = (n: number, what: string) => waitFor(() => hits() >= n, what, { timeoutMs: 30_000, everyMs: 50 });
  const lines = (text: string): ProbeLine[] => [...text.matchAll(/^EGRESS (\{.*\})\r?$/gm)].map((m) => JSON.parse(m[1]!) as ProbeLine);

  /** The session's terminal output straight from its runtime (its socket, its connect token): works with the API stopped. */
  async function runtimeLogs(id: string): Promise<string> {
    const db = await api.openDb();
    let row;
    try {
      row = (await sessionById(db, id))!;
    } finally {
      await db.close();
    }
    const token = decrypt(loadOrCreateKey(api.dataDir), row.connect_token_enc!, `connect:${id}`);
    return new Promise((resolve, reject) => {
      const req = http.get({ socketPath: row.runtime_socket!, path: '/logs', headers: { authorization: `Bearer ${token}` } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => (res.statusCode === 200 ? resolve(Buffer.concat(chunks).toString()) : reject(new Error(`runtime /logs answered ${res.statusCode}`))));
      });
      req.on('error', reject);
    });
  }

  it('35: the API SIGKILLed — the node keeps the agent\'s way out while no API runs, and the refusals of that time reach `catty logs --net`', async () => {
    const nodeBefore = api.nodePid();
    expect(nodeBefore).not.toBeNull();
    const { label, id } = await loopingProbe([`127.0.0.1:${upstream.port}`, 'example.com:443']);
    expect(fs.existsSync(path.join(nodeDirOf(api.dataDir), 'egress', id, 'proxy.sock'))).toBe(true);
    await waitForHits(hits() + 2, 'the agent to reach its host');

    await api.kill();
    const killedAt = new Date().toISOString();
    const before = hits();
    // No API at all: the agent still gets through (the node holds its listener and policy).
    await waitForHits(before + 5, 'the agent to reach its host with the API dead');
    const downUntil = new Date().toISOString();
    await api.restart();
    expect(api.nodePid()).toBe(nodeBefore);
    expect(api.output()).toMatch(/catty-node found running/);

    // Refused while the API was dead, kept by the node, written by the new API.
    const netLog = await waitFor(async () => {
      const out = (await cli(['logs', label, '--net'])).stdout.trim().split('\n');
      return out.some((l) => l.slice(0, 24) > killedAt && l.slice(0, 24) < downUntil) && out;
    }, 'a refusal from while the API was dead', { timeoutMs: 10_000, everyMs: 200 });
    expect(netLog.every((l) => /CONNECT {2}example\.com:443: example\.com is not in this session's network policy/.test(l))).toBe(true);
    // Each once: the node forgets what the API acknowledged.
    expect(new Set(netLog).size).toBe(netLog.length);
    await waitForHits(hits() + 2, 'the agent through the restarted API too');
    expect((await cli(['stop', label])).code).toBe(0);
    await waitFor(() => !fs.existsSync(path.join(nodeDirOf(api.dataDir), 'egress', id)), "the session's egress directory to go with it");
  }, 120_000);

  it('the node SIGKILLed mid-session — the agent\'s next request fails (502) while the terminal answers; the API starts a new node and the agent gets through again', async () => {
    const { label, id } = await loopingProbe([`127.0.0.1:${upstream.port}`]);
    await waitForHits(hits() + 2, 'the agent to reach its host');
    const oldNode = api.nodePid()!;
    // The API held still, so the gap cannot close before the agent has tried.
    process.kill(api.pid, 'SIGSTOP');
    let resumed = false;
    try {
      process.kill(oldNode, 'SIGKILL');
      const before = hits();
      const text = await waitFor(async () => {
        const out = await runtimeLogs(id);
        return lines(out).some((l) => l.status === 502) && out;
      }, 'the agent to see the proxy gone', { timeoutMs: 20_000, everyMs: 200 });
      const failed = lines(text).find((l) => l.status === 502)!;
      expect(failed.body).toMatch(/proxy/i);
      expect(hits()).toBeLessThanOrEqual(before + 1); // one may have been under way
      process.kill(api.pid, 'SIGCONT');
      resumed = true;
    } finally {
      if (!resumed) process.kill(api.pid, 'SIGCONT');
    }
    const newNode = await waitFor(() => {
      const pid = api.nodePid();
      return pid !== null && pid !== oldNode && pid;
    }, 'a new catty-node', { timeoutMs: 20_000, everyMs: 50 });
    expect(newNode).not.toBe(oldNode);
    const after = hits();
    await waitForHits(after + 2, 'the agent through the new node');
    expect(api.output()).toMatch(/catty-node is gone/);
    expect(api.output()).toMatch(/catty-node is back/);
    // The terminal through the API too: the failures and the recovery, in order.
    const seen = lines((await cli(['logs', label])).stdout).map((l) => l.status);
    const firstFail = seen.indexOf(502);
    expect(firstFail).toBeGreaterThan(0);
    expect(seen.slice(firstFail).includes(200)).toBe(true);
    expect((await cli(['stop', label])).code).toBe(0);
  }, 120_000);

  it('both gone (API and node SIGKILLed): the session listens again with its policy, and the API names it as having lost its credentials', async () => {
    const { label, id } = await loopingProbe([`127.0.0.1:${upstream.port}`]);
    await waitForHits(hits() + 2, 'the agent to reach its host');
    const oldNode = api.nodePid()!;
    await api.kill();
    process.kill(oldNode, 'SIGKILL');
    await api.restart();
    expect(api.nodePid()).not.toBe(oldNode);
    await waitForHits(hits() + 2, 'the agent through the new API and node');
    expect(api.output()).toMatch(new RegExp(`"sessionId":"${id}"[^\\n]*credentials are gone`));
    expect((await cli(['stop', label])).code).toBe(0);
  }, 120_000);
});
