/**
 * SECURITY.md 38 and 39 under bubblewrap: a session has a network namespace of its own. A probe
 * (tests/fixtures/probes/network-probe.mjs) is uploaded into a session and run as the agent; it
 * tries every way to the host this test can name, and the host's side counts what arrives:
 * - 38: no TCP or UDP connection reaches the API, the embedded storage server, any other TCP
 *   port the host listens on, a listener this test starts on 127.0.0.1, one on 127.0.0.2 and one
 *   on every address (tried at each of the host's addresses);
 * - 39: no host abstract Unix socket answers (one this test binds, and every one the host has),
 *   and no host Unix socket path is visible inside — another session's runtime socket included;
 *   the only sockets in the sandbox's filesystem are its own, under /run/catty.
 * And the one route left, the runtime's own way out (api/node/callback-gateway.ts),
 * tried as the agent: the API's user routes and the storage's listing are refused (403).
 *
 * Skips with a printed reason where bwrap cannot run (CI installs it, so there it runs).
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bwrapProblem, findBwrap } from '../../api/provisioners/bwrap.js';
import { routes } from '../../api/contract/routes.js';
import { sessionLogs, startTestApi, type TestApi } from '../helpers/api.js';
import { NETWORK_PROBE, ROUTE_TRIES, embeddedStorageUrl, probeTargets, type ProbeTargets } from '../helpers/network-probe.js';
import { runtimeFetch } from '../helpers/runtime.js';
import { buildZip } from '../helpers/runtime-zip.js';
import { waitFor } from '../helpers/wait.js';

const bwrap = findBwrap();
const why = bwrap ? bwrapProblem(bwrap) : 'bubblewrap (bwrap) is not installed';
if (why) console.log(`[security] 38, 39 skipped: ${why}`);

describe.skipIf(why !== null)('SECURITY.md 38, 39: a session’s own network (local provisioner, bubblewrap)', () => {
  let api: TestApi;
  let targets: ProbeTargets | undefined;
  /** The probe's report, once it ran in a session beside another one. */
  let out = '';
  let other: { id: string; label: string; connectUrl: string; socketPath?: string; connectToken: string };

  beforeAll(async () => {
    api = await startTestApi({ env: { CATTY_LOCAL_SANDBOX: 'bwrap' } });
    const storage = embeddedStorageUrl(api.output());

    // Another session, whose runtime socket the probe must not see.
    other = await api.client.call(routes.createSession, { body: { cmd: 'sleep 600', upload: false } });
    expect(other.socketPath).toBe(join(api.dataDir, 'machines', other.id, 'run', 'runtime.sock'));
    expect((await runtimeFetch(other, '/healthz')).status).toBe(200);

    targets = await probeTargets({ apiUrl: api.url, storageUrl: storage, dataDir: api.dataDir, other: { id: other.id, socketPath: other.socketPath! } });
    const { config } = targets;
    const zip = buildZip([
      { name: 'probe.mjs', data: NETWORK_PROBE },
      { name: 'net-probe-config.b64', data: Buffer.from(JSON.stringify(config)).toString('base64') },
    ]);
    const s = await api.client.call(routes.createSession, { body: { cmd: `exec ${process.execPath} /workspace/probe.mjs; sleep 600` } });
    const up = await runtimeFetch(s, '/upload', { method: 'POST', headers: { authorization: `Bearer ${s.connectToken}`, 'content-type': 'application/zip' }, body: new Uint8Array(zip) });
    if (up.status !== 200) throw new Error(`upload: ${up.status} ${await up.text()}`);
    out = await waitFor(async () => {
      const text = (await sessionLogs(api.client, s.label)).toString();
      return text.includes('PROBE-DONE') && text;
    }, 'the probe to finish', { timeoutMs: 120_000, everyMs: 200 });
    console.log(`38/39 probe (${config.tcp.length} TCP targets, ${config.abstract.length} host abstract sockets, ${config.paths.length} host socket paths):\n${out.trim()}`);
    // The probe's own controls: its connect code does connect where something answers.
    expect(out).toMatch(/^SELF-TCP ok\r?$/m);
    expect(out).toMatch(/^SELF-ABSTRACT ok\r?$/m);
    expect(out).toMatch(/^OWN-RUNTIME ok\r?$/m);
    await api.client.call(routes.stop, { params: { ref: s.label } });
  }, 180_000);
  afterAll(async () => {
    await targets?.close();
    await api?.close();
  });

  it('38: no TCP or UDP from inside reaches the host — API, storage, its listening ports, 127.0.0.1, 127.0.0.2, any of its addresses', () => {
    expect(out).not.toMatch(/^TCP-CONNECTED /m);
    expect(out).toMatch(/^INTERFACES lo\r?$/m);
    // The host's side: nothing arrived at any TCP or UDP listener this test started.
    for (const l of targets!.listeners.filter((x) => x.port !== 0)) expect(l.hits, l.what).toBe(0);
  });

  it('39: no host abstract socket answers, no host socket path is visible (another session’s runtime’s included), only its own under /run/catty', async () => {
    expect(out).not.toMatch(/^ABSTRACT-CONNECTED /m);
    expect(out).not.toMatch(/^VISIBLE /m);
    for (const l of targets!.listeners.filter((x) => x.port === 0)) expect(l.hits, l.what).toBe(0);
    const sockets = [...out.matchAll(/^SOCKET (\S+)\r?$/gm)].map((m) => m[1]!);
    expect(sockets).toContain('/run/catty/runtime.sock');
    for (const p of sockets) expect(p, 'a socket file inside the sandbox').toMatch(/^\/run\/catty(-egress)?\//);
    // The other session is untouched and still answers its owner.
    expect((await runtimeFetch(other, '/healthz')).status).toBe(200);
  });

  it('38, 39: the runtime’s own route out, tried as the agent, refuses all but the runtime’s callbacks and presigned uploads (403)', () => {
    for (const what of ROUTE_TRIES) expect(out, what).toMatch(new RegExp(`^ROUTE ${what} 403\\r?$`, 'm'));
  });
});
