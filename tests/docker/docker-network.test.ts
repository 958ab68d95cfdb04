/**
 * SECURITY.md 38–41 in Docker sessions (issue 20, item 1, Docker), under runc and gVisor
 * (catty-runsc): the built catty-api with the Docker provisioner, a container with no network,
 * and the same probes as the bubblewrap tests (tests/security/network.test.ts,
 * network-session.test.ts), uploaded and run as the agent:
 * - 38/39: tests/fixtures/probes/network-probe.mjs against the API, the storage server, every
 *   host TCP port, listeners on 127.0.0.1, 127.0.0.2 and every address, UDP, the host's abstract
 *   sockets (one this test binds) and socket paths (another session's runtime's among them);
 *   and the runtime's route out tried as the agent;
 * - 40: tests/fixtures/agents/egress-probe.mjs through $HTTPS_PROXY (catty-node's socket in the
 *   session's egress directory, bound read-only): a loopback HTTPS server named with --allow
 *   answers; example.com gets a 403 naming the host and the flag, logged for the session's net
 *   log (`catty logs --net`);
 * - 41: --net none refuses a trusted host and an unnamed loopback server.
 */
import fs from 'node:fs';
import path from 'node:path';
import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { routes } from '../../api/contract/routes.js';
import { parseAllowList } from '../../session-runtime/wire/network-allow.js';
import type { NetworkPolicy } from '../../session-runtime/wire/network-policy.js';
import { sessionLogs, startTestApi, type TestApi } from '../helpers/api.js';
import { SESSION_IMAGE, buildSessionImage, probeDocker, sessionRuntimes } from '../helpers/docker.js';
import { startUpstream, testCert } from '../helpers/egress.js';
import { NETWORK_PROBE, ROUTE_TRIES, embeddedStorageUrl, probeTargets, type ProbeTargets } from '../helpers/network-probe.js';
import { FIXTURE_AGENTS } from '../helpers/paths.js';
import { runtimeFetch } from '../helpers/runtime.js';
import { buildZip } from '../helpers/runtime-zip.js';
import { waitFor } from '../helpers/wait.js';

const probe = await probeDocker('docker network');
const runtimes = sessionRuntimes(probe);
const EGRESS_PROBE = fs.readFileSync(path.join(FIXTURE_AGENTS, 'egress-probe.mjs'));

interface EgressResult {
  target: string;
  status: number;
  body: string;
}

const egressResults = (text: string): EgressResult[] =>
  [...text.slice(0, text.indexOf('EGRESS-DONE')).matchAll(/^EGRESS (\{.*\})\r?$/gm)].map((m) => JSON.parse(m[1]!) as EgressResult);

describe.skipIf(!probe.ok)('SECURITY.md 38–41 in Docker sessions', () => {
  const docker = (probe as { docker: Docker }).docker;
  beforeAll(() => buildSessionImage());

  describe.each(runtimes)('under %s', (runtime) => {
    let api: TestApi;
    let targets: ProbeTargets | undefined;
    let upstream: Awaited<ReturnType<typeof startUpstream>>;
    /** The probes' report from a session beside another one; and the session's label. */
    let out = '';
    let label = '';
    let other: { id: string; label: string; connectUrl: string; socketPath?: string; connectToken: string };
    const sessionIds: string[] = [];

    /** Creates a session running `cmd` with `files` uploaded; resolves once its logs hold `done`. */
    async function runProbe(cmd: string, network: NetworkPolicy, files: Array<{ name: string; data: Buffer | string }>, done: string): Promise<{ label: string; text: string }> {
      const s = await api.client.call(routes.createSession, { body: { cmd, network } });
      sessionIds.push(s.id);
      const up = await runtimeFetch(s, '/upload', { method: 'POST', headers: { authorization: `Bearer ${s.connectToken}`, 'content-type': 'application/zip' }, body: new Uint8Array(buildZip(files)) });
      if (up.status !== 200) throw new Error(`upload: ${up.status} ${await up.text()}`);
      const text = await waitFor(async () => {
        const logs = (await sessionLogs(api.client, s.label)).toString();
        return logs.includes(done) && logs;
      }, `${done} from the probe`, { timeoutMs: 180_000, everyMs: 250 });
      return { label: s.label, text };
    }

    beforeAll(async () => {
      api = await startTestApi({
        env: {
          CATTY_PROVISIONER: 'docker',
          CATTY_DOCKER_IMAGE: SESSION_IMAGE,
          ...(runtime === 'runc' ? {} : { CATTY_DOCKER_RUNTIME: runtime }),
          CATTY_HEALTH_TIMEOUT_MS: '60000',
        },
      });
      upstream = await startUpstream({ secure: true });
      other = await api.client.call(routes.createSession, { body: { cmd: 'sleep 600', upload: false } });
      sessionIds.push(other.id);
      expect(other.socketPath).toBe(path.join(api.dataDir, 'docker', `catty-session-${other.id}`, 'runtime.sock'));
      expect((await runtimeFetch(other, '/healthz')).status).toBe(200);

      targets = await probeTargets({ apiUrl: api.url, storageUrl: embeddedStorageUrl(api.output()), dataDir: api.dataDir, other: { id: other.id, socketPath: other.socketPath! } });
      const allowed = `127.0.0.1:${upstream.port}`;
      ({ label, text: out } = await runProbe(
        `node /workspace/probe.mjs; node /workspace/egress-probe.mjs ${allowed} example.com:443; sleep 600`,
        { preset: 'trusted', allow: parseAllowList([allowed]) },
        [
          { name: 'probe.mjs', data: NETWORK_PROBE },
          { name: 'net-probe-config.b64', data: Buffer.from(JSON.stringify(targets.config)).toString('base64') },
          { name: 'egress-probe.mjs', data: EGRESS_PROBE },
          { name: 'ca.pem', data: testCert().cert },
        ],
        'EGRESS-DONE',
      ));
      console.log(`[docker network] ${runtime}: ${targets.config.tcp.length} TCP targets, ${targets.config.abstract.length} host abstract sockets, ${targets.config.paths.length} host socket paths:\n${out.trim()}`);
      // The probe's own controls: its connect code does connect where something answers.
      expect(out).toMatch(/^SELF-TCP ok\r?$/m);
      expect(out).toMatch(/^SELF-ABSTRACT ok\r?$/m);
      expect(out).toMatch(/^OWN-RUNTIME ok\r?$/m);
    }, 300_000);
    afterAll(async () => {
      for (const id of sessionIds) await docker.getContainer(`catty-session-${id}`).remove({ force: true }).catch(() => undefined);
      for (const id of sessionIds) await docker.getVolume(`catty-ws-${id}`).remove().catch(() => undefined);
      await targets?.close();
      await api?.close();
    });

    it('38: no TCP or UDP from inside reaches the host — API, storage, its listening ports, 127.0.0.1, 127.0.0.2, any of its addresses', () => {
      expect(out).not.toMatch(/^TCP-CONNECTED /m);
      expect(out).toMatch(/^INTERFACES lo\r?$/m);
      for (const l of targets!.listeners.filter((x) => x.port !== 0)) expect(l.hits, l.what).toBe(0);
    });

    it('39: no host abstract socket answers, no host socket path is visible (another session’s runtime’s included), only its own under /run/catty', async () => {
      expect(out).not.toMatch(/^ABSTRACT-CONNECTED /m);
      expect(out).not.toMatch(/^VISIBLE /m);
      for (const l of targets!.listeners.filter((x) => x.port === 0)) expect(l.hits, l.what).toBe(0);
      // Its own sockets (runtime, gateway) are there — the probe reached each — in a directory a
      // root API made unreadable to the container once the runtime listened; and the egress
      // proxy's, in the session's egress directory (entered, not listed).
      const sockets = [...out.matchAll(/^SOCKET (\S+)\r?$/gm)].map((m) => m[1]!);
      for (const p of sockets) expect(p, 'a socket file inside the container').toMatch(/^\/run\/catty\/(runtime|callback)\.sock$|^\/run\/catty-egress\/proxy\.sock$/);
      expect(out).toMatch(/^EGRESS-DIR \(unlisted: EACCES\)\r?$/m);
      expect((await runtimeFetch(other, '/healthz')).status).toBe(200);
    });

    it('38, 39: the runtime’s own route out, tried as the agent, refuses all but the runtime’s callbacks and presigned uploads (403)', () => {
      for (const what of ROUTE_TRIES) expect(out, what).toMatch(new RegExp(`^ROUTE ${what} 403\\r?$`, 'm'));
    });

    it('40: an allowed loopback HTTPS server answers through the proxy; a host outside the policy gets a 403 naming the host and the flag, in the net log', async () => {
      const allowed = `127.0.0.1:${upstream.port}`;
      expect(out).toMatch(/^PROXY http:\/\/127\.0\.0\.1:\d+ NO_PROXY=localhost,127\.0\.0\.1,::1\r?$/m);
      const results = egressResults(out);
      expect(results.find((r) => r.target === allowed)).toEqual({ target: allowed, status: 200, body: 'hello from /probe/0' });
      const refused = results.find((r) => r.target === 'example.com:443')!;
      expect(refused.status).toBe(403);
      expect(refused.body).toContain("example.com is not in this session's network policy (--net trusted)");
      expect(refused.body).toContain('catty new --allow example.com');
      const log = await api.client.call(routes.netLog, { params: { ref: label } });
      expect(JSON.stringify(log)).toContain("example.com:443: example.com is not in this session's network policy (--net trusted)");
    });

    it('41: --net none refuses even a trusted host and a loopback server not named', async () => {
      const seenBefore = upstream.seen.length;
      const { text } = await runProbe(
        `node /workspace/egress-probe.mjs api.anthropic.com:443 127.0.0.1:${upstream.port}; sleep 600`,
        { preset: 'none', allow: [] },
        [{ name: 'egress-probe.mjs', data: EGRESS_PROBE }],
        'EGRESS-DONE',
      );
      expect(egressResults(text).map((r) => [r.target, r.status])).toEqual([
        ['api.anthropic.com:443', 403],
        [`127.0.0.1:${upstream.port}`, 403],
      ]);
      expect(egressResults(text)[0]!.body).toContain('api.anthropic.com:443: this session has no network (--net none)');
      expect(upstream.seen.length).toBe(seenBefore);
    }, 240_000);
  });
});
