/**
 * A Swarm machine's egress socket (and the session CA beside it) is made by its node's
 * catty-node only after the runtime listens (the node's attach waits for runtime.sock). The
 * runtime must not start the agent before: the agent would get no CA variables (an --inject
 * host's TLS would fail) and, with no upload, run before its way out exists. Here the built
 * runtime starts with CATTY_EGRESS_SOCKET naming a socket that is not there yet.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { agentCmd, runtimeFetch, startRuntime, type RuntimeProcess } from '../helpers/runtime.js';
import { waitFor } from '../helpers/wait.js';

describe('the egress socket appears after the runtime listens', () => {
  let rt: RuntimeProcess | undefined;
  let proxy: net.Server | undefined;
  afterEach(async () => {
    await rt?.stop();
    await new Promise((resolve) => (proxy ? proxy.close(resolve) : resolve(undefined)));
  });

  it('the agent starts once the socket is there, with the CA written beside it', async () => {
    const egressDir = fs.mkdtempSync(path.join('/tmp', 'catty-late-egress-'));
    const socket = path.join(egressDir, 'proxy.sock');
    const dump = path.join(egressDir, 'env.json');
    rt = await startRuntime({
      listen: 'unix',
      env: { CATTY_EGRESS_SOCKET: socket, CATTY_NO_UPLOAD: '1', CATTY_AGENT_CMD: agentCmd('envdump.mjs', dump) },
    });
    const health = async (): Promise<{ agent: string }> => (await (await runtimeFetch(rt!, '/healthz')).json()) as { agent: string };
    // Listening, and the agent held back while the proxy is not there.
    expect((await health()).agent).toBe('waiting');
    expect(fs.existsSync(dump)).toBe(false);

    fs.writeFileSync(path.join(egressDir, 'ca.pem'), '-----BEGIN CERTIFICATE-----\nMA==\n-----END CERTIFICATE-----\n');
    proxy = net.createServer((s) => s.end());
    await new Promise<void>((resolve) => proxy!.listen(socket, resolve));

    await waitFor(async () => (await health()).agent === 'running', 'the agent to start', { timeoutMs: 10_000 });
    const env = (await waitFor(() => fs.existsSync(dump) && (JSON.parse(fs.readFileSync(dump, 'utf8')) as { env: Record<string, string> }), 'the env dump')).env;
    expect(env.NODE_EXTRA_CA_CERTS).toBe(path.join(egressDir, 'ca.pem'));
    expect(env.SSL_CERT_FILE).toMatch(/ca-bundle\.pem$/);
    expect(env.HTTPS_PROXY).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    fs.rmSync(egressDir, { recursive: true, force: true });
  });
});
