/**
 * SECURITY.md 42 and 43 from inside a real session (issue 20, item 5): the built catty-api with
 * the local provisioner (bubblewrap), its catty-node holding the session's credentials, driven
 * by the CLI as a user would (`secrets set`, `secrets set --inject`, `new --allow`). The agent is
 * a probe (tests/fixtures/agents/credential-probe.mjs) that calls the model route with the key
 * it was given and curls an --inject host through the proxy. The scripted model
 * (tests/helpers/fake-anthropic.ts) and the inject host (a loopback HTTPS server named with
 * --allow) receive the real values; inside, the agent holds placeholders, and the real values
 * are in no process of the machine (environment, command line, memory), no file of its
 * directories (workspace, home, logs), the API's data directory, or the final snapshot.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bwrapProblem, findBwrap } from '../../api/provisioners/bwrap.js';
import { startTestApi, type TestApi } from '../helpers/api.js';
import { runCli } from '../helpers/cli.js';
import { saveLogin } from '../helpers/credentials.js';
import { startUpstream, testCert } from '../helpers/egress.js';
import { startFakeAnthropic, type FakeAnthropic } from '../helpers/fake-anthropic.js';
import { filesHolding, foundInProcess, processTree } from '../helpers/leak-scan.js';
import { FIXTURE_AGENTS } from '../helpers/paths.js';
import { tempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/wait.js';

const PROBE = fs.readFileSync(path.join(FIXTURE_AGENTS, 'credential-probe.mjs'));
const KEY = 'sk-ant-api03-REAL-model-key-9f3c1a7e5b2d';
const GH = 'ghp_REAL-injected-token-7d41c9a0e2';
const bwrap = findBwrap();
const why = !bwrap ? 'bubblewrap (bwrap) is not installed' : bwrapProblem(bwrap);
if (why) console.log(`[security] 42/43 in a session skipped: ${why}`);

describe('credentials stay outside a real session (local provisioner, bubblewrap)', () => {
  let api: TestApi;
  let home: string;
  let fake: FakeAnthropic;

  beforeAll(async () => {
    if (why) return;
    const caFile = path.join(tempDir('cred-ca'), 'upstream-ca.pem');
    fs.writeFileSync(caFile, testCert().cert);
    // catty-node trusts the test HTTPS server's certificate for its own upstream connections.
    api = await startTestApi({ env: { CATTY_LOCAL_SANDBOX: 'bwrap', CATTY_LOCAL_SPARE: '0', NODE_EXTRA_CA_CERTS: caFile } });
    home = tempDir('cred-home');
    saveLogin(home, { apiUrl: api.url, accessToken: api.token });
    fake = await startFakeAnthropic(() => 'hello from the scripted model');
  }, 120_000);
  afterAll(async () => {
    await fake?.close();
    await api?.close();
  });

  const cli = (argv: string[], cwd?: string) => runCli(argv, { home, cwd, env: { CATTY_API_URL: api.url } });

  it.skipIf(why !== null)('42/53/54: the scripted model gets the real key and the inject host the real token, while the machine holds placeholders only — no process, file, log or snapshot has them', async () => {
    const upstream = await startUpstream({ secure: true });
    expect((await cli(['secrets', 'set', 'ANTHROPIC_API_KEY', KEY])).code).toBe(0);
    expect((await cli(['secrets', 'set', 'ANTHROPIC_BASE_URL', fake.url])).code).toBe(0);
    const set = await cli(['secrets', 'set', 'GH_TOKEN', GH, '--inject', `127.0.0.1:${upstream.port}`]);
    expect(set.code, set.stderr).toBe(0);
    expect(set.stderr).toContain(`Authorization: Bearer <value> for 127.0.0.1:${upstream.port}`);

    const project = tempDir('cred-proj');
    fs.writeFileSync(path.join(project, 'credential-probe.mjs'), PROBE);
    const run = await cli(['new', '--detach', '--net', 'none', '--allow', `127.0.0.1:${upstream.port}`, '--cmd', `exec ${process.execPath} credential-probe.mjs https://127.0.0.1:${upstream.port}/inject`], project);
    expect(run.code, run.stderr).toBe(0);
    const label = run.stdout.trim().split('\n').at(-1)!;
    const text = await waitFor(async () => {
      const logs = await cli(['logs', label]);
      return logs.stdout.includes('CRED-DONE') && logs.stdout;
    }, 'the probe to finish', { timeoutMs: 60_000, everyMs: 200 });
    const line = (tag: string): unknown => JSON.parse(new RegExp(`^${tag} (.*?)\\r?$`, 'm').exec(text)![1]!);

    // Inside: the bridge and placeholders, the CA's certificate (not its key) and the bundle.
    const env = line('ENV') as Record<string, string | null>;
    expect(env.ANTHROPIC_BASE_URL).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(env.ANTHROPIC_API_KEY).toMatch(/^catty-placeholder/);
    expect(env.GH_TOKEN).toBeNull();
    expect(env.NODE_EXTRA_CA_CERTS).toBe('/run/catty-egress/ca.pem');
    for (const name of ['SSL_CERT_FILE', 'CURL_CA_BUNDLE', 'GIT_SSL_CAINFO', 'REQUESTS_CA_BUNDLE', 'PIP_CERT']) expect(env[name], name).toMatch(/\/\.config\/catty\/ca-bundle\.pem$/);
    expect(text).toMatch(/^EGRESS-DIR \["ca\.pem","proxy\.sock"\]\r?$/m);
    expect(text).toMatch(/^CA-HAS-KEY false\r?$/m);

    // The model route under --net none: the scripted model answered, and got the real key.
    expect(line('MODEL')).toMatchObject({ status: 200, body: expect.stringContaining('hello from the scripted model') });
    const modelCall = fake.requests.indexOf('POST /v1/messages');
    expect(fake.headers[modelCall]!['x-api-key']).toBe(KEY);
    expect(JSON.stringify(fake.headers)).not.toContain('catty-placeholder');

    // --inject: curl trusted the session CA; the header was replaced by the real token.
    expect(line('INJECT')).toMatchObject({ code: 200, out: 'hello from /inject' });
    expect(upstream.seen.at(-1)!.headers.authorization).toBe(`Bearer ${GH}`);

    // Nowhere in the machine: every process's environment, command line and memory.
    const listed = (JSON.parse((await cli(['list', '--json'])).stdout) as Array<{ label: string; id: string }>).find((s) => s.label === label)!;
    const machine = JSON.parse(fs.readFileSync(path.join(api.dataDir, 'machines', listed.id, 'machine.json'), 'utf8')) as { pid: number };
    const pids = processTree(machine.pid);
    expect(pids.length).toBeGreaterThanOrEqual(3);
    for (const needle of [KEY, GH]) expect(pids.flatMap((pid) => foundInProcess(pid, needle))).toEqual([]);
    // The control: the probe's own memory does hold its placeholder.
    expect(pids.flatMap((pid) => foundInProcess(pid, env.ANTHROPIC_API_KEY!)).length).toBeGreaterThan(0);

    // Nor in any file: the workspace, the agent's home, logs, the database, the egress directory —
    // and, once stopped, the final snapshot.
    expect((await cli(['stop', label])).code).toBe(0);
    await waitFor(() => !fs.existsSync(`/proc/${machine.pid}`), 'the machine to stop');
    for (const needle of [KEY, GH]) expect(filesHolding(api.dataDir, needle)).toEqual([]);
    // The control: the snapshot of the workspace is there, and holds the probe.
    expect(filesHolding(api.dataDir, 'credential-probe.mjs').length).toBeGreaterThan(0);
  }, 180_000);

  it.skipIf(why !== null)('the API refuses an inject rule for a host the policy does not allow (400), whatever the CLI sent', async () => {
    const res = await fetch(`${api.url}/v1/sessions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${api.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ agent: 'shell', upload: false, secrets: { GH_TOKEN: 'x' }, inject: [{ secret: 'GH_TOKEN', host: 'example.com', port: 443, header: 'Authorization', bearer: true }], network: { preset: 'none', allow: [] } }),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { message: string } }).error.message).toContain("GH_TOKEN is for example.com:443, which this session's network policy does not allow; allow it with --allow example.com:443");
    for (const inject of [{ secret: 'GH_TOKEN', host: 'example.com', port: 443, header: 'Host', bearer: false }, { secret: 'GH_TOKEN', host: 'https://example.com', port: 443, header: 'X-A', bearer: false }]) {
      const bad = await fetch(`${api.url}/v1/sessions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${api.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ agent: 'shell', upload: false, secrets: { GH_TOKEN: 'x' }, inject: [inject] }),
      });
      expect(bad.status, JSON.stringify(inject)).toBe(400);
    }
  });
});
