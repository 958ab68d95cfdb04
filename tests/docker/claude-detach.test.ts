/**
 * Issue 19, item 2: real Claude Code in a Docker session must outlive a detach. The session is
 * created through the API with the docker provisioner and reached through its relay (the
 * deployment path); Claude Code talks to a scripted Messages API on loopback, through the
 * runtime's bridge and the session's egress proxy, which holds the key (the container has no
 * network). One prompt, its answer on screen, a detach — and then, while
 * nobody is attached, a second control plane starts on the same Docker engine, as a test run or
 * a second deployment on that host does. For 90 s the session must stay `running` and its agent
 * alive (polled; the wait ends at the first sign of an exit); then a reattach gets an answer to a
 * second prompt.
 *
 * What killed it: every catty-api with the docker provisioner listed every catty container on the
 * engine as its own, and on start stopped each one none of its sessions owned — another control
 * plane's too. The runtime's stop hangs up the agent (SIGHUP), and Claude Code exits 129 on it.
 */
import path from 'node:path';
import xterm from '@xterm/headless';
import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { routes } from '../../api/contract/routes.js';
import { Label } from '../../api/provisioners/docker-spec.js';
import { Health } from '../../session-runtime/wire/protocol.js';
import { startTestApi, type TestApi } from '../helpers/api.js';
import { SESSION_IMAGE, buildSessionImage, probeDocker } from '../helpers/docker.js';
import { startFakeAnthropic, type FakeAnthropic } from '../helpers/fake-anthropic.js';
import { freeLoopbackPort } from '../helpers/loopback.js';
import { TestClient, runtimeFetch } from '../helpers/runtime.js';
import { buildZip } from '../helpers/runtime-zip.js';
import { waitFor } from '../helpers/wait.js';

const probe = await probeDocker('claude detach');
const DETACHED_MS = 90_000;
const COLS = 100;
const ROWS = 30;
const reply = (n: number): string => `FAKE-REPLY-${n}-7d1c`;

/** A client's output rendered as a terminal shows it (Claude Code paints with cursor moves). */
class Screen {
  readonly #term = new xterm.Terminal({ cols: COLS, rows: ROWS, allowProposedApi: true, scrollback: 1000 });
  #fed = 0;
  constructor(private readonly client: TestClient) {}

  async text(): Promise<string> {
    const output = this.client.output();
    if (output.length > this.#fed) this.#term.write(output.subarray(this.#fed));
    this.#fed = output.length;
    await new Promise<void>((resolve) => this.#term.write('', resolve));
    const buffer = this.#term.buffer.active;
    const lines: string[] = [];
    for (let i = 0; i < buffer.length; i++) lines.push(buffer.getLine(i)?.translateToString(true) ?? '');
    return lines.join('\n');
  }

  async waitFor(needle: string, timeoutMs: number): Promise<void> {
    let last = '';
    await waitFor(async () => (last = await this.text()).includes(needle), () => `${JSON.stringify(needle)} on the screen\n--- screen ---\n${last}`, { timeoutMs, everyMs: 100 });
  }
}

/** Types `prompt`, waits for its echo (Claude Code takes a burst with Enter in it as a paste), submits it. */
async function ask(client: TestClient, screen: Screen, prompt: string): Promise<void> {
  client.send(Buffer.from(prompt));
  await screen.waitFor(prompt, 15_000);
  client.send(Buffer.from('\r'));
}

describe.skipIf(!probe.ok)('real Claude Code in a Docker session, detached', () => {
  const docker = (probe as { docker: Docker }).docker;
  // The API must drive the engine this test inspects (catty-api reads DOCKER_HOST like dockerode).
  const dockerEnv: Record<string, string> = process.env.DOCKER_HOST ? { DOCKER_HOST: process.env.DOCKER_HOST } : {};
  let api: TestApi;
  let other: TestApi | undefined;
  let anthropic: FakeAnthropic;
  const sessionIds: string[] = [];

  beforeAll(async () => {
    buildSessionImage();
    anthropic = await startFakeAnthropic(reply);
    const port = await freeLoopbackPort();
    api = await startTestApi({
      env: {
        CATTY_PROVISIONER: 'docker',
        CATTY_DOCKER_IMAGE: SESSION_IMAGE,
        // A public URL: clients go through the API's relay, as in a deployment.
        CATTY_API_LISTEN: `127.0.0.1:${port}`,
        CATTY_PUBLIC_URL: `http://127.0.0.1:${port}`,
        CATTY_HEALTH_TIMEOUT_MS: '60000',
        ...dockerEnv,
      },
    });
  });
  afterAll(async () => {
    for (const id of sessionIds) await docker.getContainer(`catty-session-${id}`).remove({ force: true }).catch(() => undefined);
    for (const id of sessionIds) await docker.getVolume(`catty-ws-${id}`).remove().catch(() => undefined);
    await other?.close();
    await api?.close();
    await anthropic?.close();
  });

  it(`stays running ${DETACHED_MS / 1000} s after a detach that followed a prompt, another control plane starting meanwhile`, async () => {
    const s = await api.client.call(routes.createSession, {
      body: { secrets: { ANTHROPIC_API_KEY: 'sk-ant-api03-fake-key-for-the-loopback-api', ANTHROPIC_BASE_URL: anthropic.url } },
    });
    sessionIds.push(s.id);
    const up = await fetch(`${s.connectUrl}/upload?cols=${COLS}&rows=${ROWS}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${s.connectToken}`, 'content-type': 'application/zip' },
      body: new Uint8Array(buildZip([{ name: 'hello.py', data: 'print("hello")\n' }])),
    });
    expect(up.status).toBe(200);

    const wsUrl = s.connectUrl.replace(/^http/, 'ws');
    const first = new TestClient({ wsUrl, token: s.connectToken }, { cols: COLS, rows: ROWS });
    await first.opened;
    first.control({ type: 'sync_back', enabled: true });
    const screen = new Screen(first);
    await screen.waitFor('Claude Code v', 90_000);
    await ask(first, screen, 'say hi');
    await screen.waitFor(reply(1), 60_000);
    // The detach: the client's WebSocket closes (Ctrl-] in the CLI), the relay closes upstream.
    await first.close();

    // The runtime itself, where the agent's state is (its socket in the machine's run directory).
    const container = docker.getContainer(`catty-session-${s.id}`);
    const runtime = { url: 'http://localhost', socketPath: path.join((await container.inspect()).Config.Labels[Label.runDir]!, 'runtime.sock') };
    const detachedAt = Date.now();

    // What a test run or a second deployment on this engine does: a catty-api with the docker
    // provisioner starts, and reconciles its sessions with "its" machines.
    other = await startTestApi({ env: { CATTY_PROVISIONER: 'docker', CATTY_DOCKER_IMAGE: SESSION_IMAGE, ...dockerEnv } });

    let checks = 0;
    await waitFor(
      async () => {
        const after = `${Date.now() - detachedAt} ms after the detach`;
        const session = await api.client.call(routes.getSession, { params: { ref: s.label } });
        if (session.status !== 'running') throw new Error(`the session ended ${after}: ${session.status}, ${session.detail ?? ''}`);
        const health = await runtimeFetch(runtime, '/healthz').then(
          async (res) => Health.parse(await res.json()),
          async (err: Error) => {
            const state = await container.inspect().then((info) => info.State.Status, () => 'removed');
            // The runtime reports the agent's exit to the API on its way out: say what it was.
            const ended = await waitFor(async () => {
              const now = await api.client.call(routes.getSession, { params: { ref: s.label } });
              return now.status !== 'running' && now;
            }, 'the API to record the end', { timeoutMs: 10_000, everyMs: 200 }).catch(() => null);
            throw new Error(`the runtime stopped answering ${after} (${err.message}; container ${state}; session ${ended ? `${ended.status}: ${ended.detail ?? ''}` : 'still running'})`);
          },
        );
        if (health.agent !== 'running') throw new Error(`the agent exited with code ${health.exitCode} ${after}`);
        checks++;
        return Date.now() - detachedAt >= DETACHED_MS;
      },
      `${DETACHED_MS} ms detached`,
      { timeoutMs: DETACHED_MS + 30_000, everyMs: 1000 },
    );
    expect(checks).toBeGreaterThan(DETACHED_MS / 1000 / 2);

    // Still the same Claude Code, and it still answers.
    const again = new TestClient({ wsUrl, token: s.connectToken }, { cols: COLS, rows: ROWS });
    try {
      await again.opened;
      expect((await again.waitForHello()).agentRunning).toBe(true);
      const screenAgain = new Screen(again);
      await screenAgain.waitFor(reply(1), 15_000);
      await ask(again, screenAgain, 'and again');
      await screenAgain.waitFor(reply(2), 60_000);
    } finally {
      await again.close();
    }
  }, DETACHED_MS + 180_000);
});
