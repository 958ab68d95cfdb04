/**
 * Credentials outside the machine and a way out that outlives the API, in Docker sessions (issue
 * 20, items 2 and 5; SECURITY.md 35, 42; security README 53, 54), under runc and gVisor
 * (catty-runsc): the built catty-api with the Docker provisioner; each container binds its
 * session's egress directory (catty-node's, the socket given to the container's user) read-only
 * at /run/catty-egress, as bubblewrap does — nothing of the API between the agent and the proxy.
 * - The model route and --inject: the agent (tests/fixtures/agents/credential-probe.mjs) calls the
 *   model with its placeholder and curls a loopback HTTPS server named with --allow trusting the
 *   session CA; the scripted model (tests/helpers/fake-anthropic.ts) gets the real key, the server
 *   the real token. The container's environment, its processes (environment, command line,
 *   memory, read from the host), its workspace volume, the API's data directory and the final
 *   snapshot hold neither.
 * - catty-api SIGKILLed: while no API runs, the agent's requests keep reaching the allowed server
 *   and the model with the real credentials (catty-node holds them); after a restart too.
 */
import fs from 'node:fs';
import path from 'node:path';
import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { routes } from '../../api/contract/routes.js';
import { parseAllowList } from '../../session-runtime/wire/network-allow.js';
import { sessionLogs, startTestApi, type TestApi } from '../helpers/api.js';
import { GVISOR_RUNTIME, SESSION_IMAGE, buildSessionImage, probeDocker, sessionRuntimes } from '../helpers/docker.js';
import { startUpstream, testCert } from '../helpers/egress.js';
import { startFakeAnthropic, type FakeAnthropic } from '../helpers/fake-anthropic.js';
import { filesHolding, foundInProcess, processTree } from '../helpers/leak-scan.js';
import { FIXTURE_AGENTS } from '../helpers/paths.js';
import { runtimeFetch } from '../helpers/runtime.js';
import { buildZip } from '../helpers/runtime-zip.js';
import { tempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/wait.js';

const probe = await probeDocker('docker egress');
const runtimes = sessionRuntimes(probe);
const PROBE = fs.readFileSync(path.join(FIXTURE_AGENTS, 'credential-probe.mjs'));
const KEY = 'sk-ant-api03-REAL-docker-model-key-4e8a2c';
const GH = 'ghp_REAL-docker-injected-token-b7305f';

describe.skipIf(!probe.ok)('credentials and egress of Docker sessions (catty-node bound in)', () => {
  const docker = (probe as { docker: Docker }).docker;
  beforeAll(() => buildSessionImage());

  describe.each(runtimes)('under %s', (runtime) => {
    let api: TestApi;
    let fake: FakeAnthropic;
    let upstream: Awaited<ReturnType<typeof startUpstream>>;
    const sessionIds: string[] = [];

    beforeAll(async () => {
      const caFile = path.join(tempDir('docker-cred-ca'), 'upstream-ca.pem');
      fs.writeFileSync(caFile, testCert().cert);
      api = await startTestApi({
        env: {
          CATTY_PROVISIONER: 'docker',
          CATTY_DOCKER_IMAGE: SESSION_IMAGE,
          ...(runtime === 'runc' ? {} : { CATTY_DOCKER_RUNTIME: runtime }),
          CATTY_HEALTH_TIMEOUT_MS: '60000',
          // catty-node trusts the test HTTPS server's certificate for its own upstream connections.
          NODE_EXTRA_CA_CERTS: caFile,
        },
      });
      fake = await startFakeAnthropic(() => 'hello from the scripted model');
      upstream = await startUpstream({ secure: true });
    }, 300_000);
    afterAll(async () => {
      for (const id of sessionIds) await docker.getContainer(`catty-session-${id}`).remove({ force: true }).catch(() => undefined);
      for (const id of sessionIds) await docker.getVolume(`catty-ws-${id}`).remove().catch(() => undefined);
      await fake?.close();
      await api?.close();
    });

    /** A session under --net none plus the upstream, with the model secrets and GH_TOKEN injected for the upstream. */
    async function createSession(cmd: string, upload: boolean) {
      const allowed = `127.0.0.1:${upstream.port}`;
      const s = await api.client.call(routes.createSession, {
        body: {
          cmd,
          upload,
          network: { preset: 'none', allow: parseAllowList([allowed]) },
          secrets: { ANTHROPIC_API_KEY: KEY, ANTHROPIC_BASE_URL: fake.url, GH_TOKEN: GH },
          inject: [{ secret: 'GH_TOKEN', host: '127.0.0.1', port: upstream.port, header: 'Authorization', bearer: true }],
        },
      });
      sessionIds.push(s.id);
      return s;
    }

    it('42/53/54: the scripted model gets the real key and the inject host the real token through the session CA; the container holds placeholders only', async () => {
      const s = await createSession(`exec node /workspace/credential-probe.mjs https://127.0.0.1:${upstream.port}/inject`, true);
      const up = await runtimeFetch(s, '/upload', { method: 'POST', headers: { authorization: `Bearer ${s.connectToken}`, 'content-type': 'application/zip' }, body: new Uint8Array(buildZip([{ name: 'credential-probe.mjs', data: PROBE }])) });
      expect(up.status).toBe(200);
      const text = await waitFor(async () => {
        const logs = (await sessionLogs(api.client, s.label)).toString();
        return logs.includes('CRED-DONE') && logs;
      }, 'the probe to finish', { timeoutMs: 120_000, everyMs: 250 });
      console.log(`[docker egress] ${runtime}:\n${text.trim()}`);
      const line = (tag: string): unknown => JSON.parse(new RegExp(`^${tag} (.*?)\\r?$`, 'm').exec(text)![1]!);

      // Inside: the bridge and placeholders, the CA's certificate (not its key) and the bundle.
      const env = line('ENV') as Record<string, string | null>;
      expect(env.ANTHROPIC_BASE_URL).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(env.ANTHROPIC_API_KEY).toMatch(/^catty-placeholder/);
      expect(env.GH_TOKEN).toBeNull();
      expect(env.NODE_EXTRA_CA_CERTS).toBe('/run/catty-egress/ca.pem');
      for (const name of ['SSL_CERT_FILE', 'CURL_CA_BUNDLE', 'GIT_SSL_CAINFO', 'REQUESTS_CA_BUNDLE', 'PIP_CERT']) expect(env[name], name).toMatch(/\/\.config\/catty\/ca-bundle\.pem$/);
      // The directory is entered, not listed (0711: the container's user is not its owner).
      expect(text).toMatch(/^EGRESS-DIR \(unlisted: EACCES\)\r?$/m);
      expect(text).toMatch(/^CA-HAS-KEY false\r?$/m);

      // The model route under --net none: the scripted model answered, and got the real key.
      expect(line('MODEL')).toMatchObject({ status: 200, body: expect.stringContaining('hello from the scripted model') });
      const modelCall = fake.requests.indexOf('POST /v1/messages');
      expect(fake.headers[modelCall]!['x-api-key']).toBe(KEY);
      expect(JSON.stringify(fake.headers)).not.toContain('catty-placeholder');

      // --inject: curl trusted the session CA; the header was replaced by the real token.
      expect(line('INJECT')).toMatchObject({ code: 200, out: 'hello from /inject' });
      expect(upstream.seen.at(-1)!.headers.authorization).toBe(`Bearer ${GH}`);

      // Not in the container's environment (what the engine gives its processes, an exec too).
      const container = await docker.getContainer(`catty-session-${s.id}`).inspect();
      const containerEnv = (container.Config.Env ?? []).join('\n');
      expect(containerEnv).toContain('CATTY_MODEL_ROUTE=');
      expect(containerEnv).toContain('CATTY_EGRESS_SOCKET=/run/catty-egress/proxy.sock');
      for (const needle of [KEY, GH]) expect(containerEnv).not.toContain(needle);

      // Nor in any of its processes (environment, command line, memory), read from the host: under
      // runc the container's own; under gVisor the sandbox's (its kernel holds the agent's memory).
      const pids = processTree(container.State.Pid);
      expect(pids.length).toBeGreaterThanOrEqual(runtime === GVISOR_RUNTIME ? 1 : 2);
      const scan = (needle: string) => pids.flatMap((pid) => foundInProcess(pid, needle, 4 * 1024 ** 3));
      for (const needle of [KEY, GH]) expect(scan(needle)).toEqual([]);
      // The control: the probe's own memory does hold its placeholder.
      expect(scan(env.ANTHROPIC_API_KEY!).length).toBeGreaterThan(0);

      // Nor in any file: the workspace volume, the API's data directory (database, logs, the
      // node's egress directory) — and, once stopped, the final snapshot.
      const volume = (await docker.getVolume(`catty-ws-${s.id}`).inspect()).Mountpoint;
      expect(filesHolding(volume, 'CRED-DONE').length + filesHolding(volume, 'credential-probe').length).toBeGreaterThan(0);
      for (const needle of [KEY, GH]) expect(filesHolding(volume, needle)).toEqual([]);
      await api.client.call(routes.stop, { params: { ref: s.label } });
      await waitFor(async () => (await docker.listContainers({ filters: { name: [`catty-session-${s.id}`] } })).length === 0, 'the container to go', { timeoutMs: 60_000 });
      for (const needle of [KEY, GH]) expect(filesHolding(api.dataDir, needle)).toEqual([]);
      expect(filesHolding(api.dataDir, 'credential-probe.mjs').length).toBeGreaterThan(0);
    }, 240_000);

    it('35: catty-api SIGKILLed — the agent still reaches the allowed server and the model, with the real credentials, while no API runs and after it is back', async () => {
      const tick = `https://127.0.0.1:${upstream.port}/tick`;
      const model = `-H 'x-api-key: placeholder' -H 'content-type: application/json' -d '{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"hi"}]}' "$ANTHROPIC_BASE_URL/v1/messages"`;
      const s = await createSession(
        `while :; do env -u NO_PROXY -u no_proxy curl -sS -m 5 -o /dev/null -w 'TICK %{http_code}\\n' ${tick}; curl -sS -m 5 -o /dev/null -w 'MODEL %{http_code}\\n' ${model}; sleep 0.3; done`,
        false,
      );
      const ticks = () => upstream.seen.filter((r) => r.url === '/tick');
      const calls = () => fake.headers.filter((_h, i) => fake.requests[i] === 'POST /v1/messages');
      await waitFor(() => ticks().length >= 2 && calls().length >= 2, 'the agent to reach both', { timeoutMs: 60_000 });
      const node = api.nodePid();
      expect(node).not.toBeNull();

      await api.kill();
      const [ticksBefore, callsBefore] = [ticks().length, calls().length];
      await waitFor(() => ticks().length >= ticksBefore + 5 && calls().length >= callsBefore + 5, 'the agent’s requests while no API runs', { timeoutMs: 30_000 });
      // Still no API: nothing of it was on the way.
      expect(() => process.kill(api.pid, 0)).toThrow();
      for (const r of ticks().slice(ticksBefore)) expect(r.headers.authorization).toBe(`Bearer ${GH}`);
      for (const h of calls().slice(callsBefore)) expect(h['x-api-key']).toBe(KEY);
      expect(api.nodePid()).toBe(node);

      await api.restart();
      const [ticksBack, callsBack] = [ticks().length, calls().length];
      await waitFor(() => ticks().length >= ticksBack + 3 && calls().length >= callsBack + 3, 'the agent’s requests after the restart', { timeoutMs: 30_000 });
      for (const r of ticks().slice(ticksBack)) expect(r.headers.authorization).toBe(`Bearer ${GH}`);
      expect(api.nodePid()).toBe(node);
      const listed = await api.client.call(routes.listSessions);
      expect(listed.sessions.find((x) => x.id === s.id)?.status).toBe('running');
    }, 240_000);
  });
});
