/**
 * SECURITY.md 37: from inside a session the agent cannot read or write another session's
 * workspace, the API's data directory or database, the user's $CATTY_HOME (secrets, key file,
 * credentials), or the runtime's own environment and memory (connect and machine tokens); it is
 * not root with capabilities. A probe (tests/fixtures/probes/isolation-probe.mjs) is uploaded
 * into the session and run as the agent; it reports everything it managed to read or write. It
 * attacks every other process in the machine — the runtime first of all, its parent here — as an
 * attacker would: /proc/<pid>/environ, the heap and every other readable range of
 * /proc/<pid>/maps read through /proc/<pid>/mem and through process_vm_readv, and ptrace attach;
 * controls prove each of those works on the probe itself. (Without the runtime's execute-only
 * node, api/provisioners/exec-only-node.ts, it finds the tokens in the runtime's memory.)
 *
 * Local provisioner: runs under bubblewrap (skips with a printed reason where bwrap cannot run).
 * Docker provisioner: runs when a Docker engine answers and the session image exists, else skips
 * with a printed reason — under runc, and under gVisor (catty-runsc) when the engine has it. Two
 * checks differ there, because gVisor does: it refuses a child attaching its parent (the probe's
 * ptrace control), and the runtime's environ is readable (the ordinary node runs it: Debian's
 * gVisor cannot exec the execute-only one) — so the probe must read it and find no token there.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bwrapProblem, findBwrap } from '../../api/provisioners/bwrap.js';
import { startTestApi, type TestApi, sessionLogs } from '../helpers/api.js';
import { RouteError } from '../../api/contract/client.js';
import { REPO_ROOT } from '../helpers/paths.js';
import { buildZip } from '../helpers/runtime-zip.js';
import { runtimeFetch } from '../helpers/runtime.js';
import { tempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/wait.js';
import { routes } from '../../api/contract/routes.js';

const API_CANARY = 'api-env-canary-6f1d2c';
const HOME_CANARY = 'catty-home-canary-93ae51';
const PROBE = readFileSync(join(REPO_ROOT, 'tests/fixtures/probes/isolation-probe.mjs'));
const SESSION_IMAGE = process.env.CATTY_SESSION_IMAGE ?? 'catty-session:dev';


const GVISOR_RUNTIME = 'catty-runsc';

interface Sandbox {
  provisioner: 'local' | 'docker';
  /** The OCI runtime of a Docker session (undefined: the engine's default, runc). */
  runtime?: typeof GVISOR_RUNTIME;
}

/** Why the sandbox cannot run here, or null when it can. */
function unavailable({ provisioner, runtime }: Sandbox): string | null {
  if (provisioner === 'local') {
    const bwrap = findBwrap();
    if (!bwrap) return 'bubblewrap (bwrap) is not installed';
    return bwrapProblem(bwrap);
  }
  const info = spawnSync('docker', ['image', 'inspect', SESSION_IMAGE], { encoding: 'utf8', timeout: 20_000 });
  if (info.error) return `no docker CLI (${info.error.message})`;
  if (info.status !== 0) {
    const engine = spawnSync('docker', ['info'], { encoding: 'utf8', timeout: 20_000 });
    if (engine.status !== 0) return 'no Docker engine answers';
    return `the session image ${SESSION_IMAGE} is not built (scripts build it; the Docker suite does too)`;
  }
  if (runtime) {
    const runtimes = spawnSync('docker', ['info', '--format', '{{json .Runtimes}}'], { encoding: 'utf8', timeout: 20_000 });
    if (!Object.keys(JSON.parse(runtimes.stdout || '{}') as object).includes(runtime)) return `the engine has no runtime ${runtime} (infra/README.md registers it)`;
  }
  return null;
}

const SANDBOXES: Array<[string, Sandbox]> = [
  ['local', { provisioner: 'local' }],
  ['docker', { provisioner: 'docker' }],
  [`docker, ${GVISOR_RUNTIME}`, { provisioner: 'docker', runtime: GVISOR_RUNTIME }],
];

describe.each(SANDBOXES)('SECURITY.md 37: isolation (%s)', (name, sandbox) => {
  const { provisioner } = sandbox;
  const gvisor = sandbox.runtime === GVISOR_RUNTIME;
  const why = unavailable(sandbox);
  if (why) console.log(`[security] 37 (${name}) skipped: ${why}`);
  let api: TestApi;
  let home: string;
  beforeAll(async () => {
    if (why) return;
    // A user's $CATTY_HOME as the CLI lays it out, with the embedded API's data dir inside it.
    home = tempDir('sec-home');
    mkdirSync(join(home, 'local', 'data'), { recursive: true, mode: 0o700 });
    for (const f of ['secrets.enc', 'secret.key', 'credentials.json']) writeFileSync(join(home, f), `${HOME_CANARY}\n`, { mode: 0o600 });
    api = await startTestApi({
      dataDir: join(home, 'local', 'data'),
      env: { CATTY_PROVISIONER: provisioner, ...(sandbox.runtime ? { CATTY_DOCKER_RUNTIME: sandbox.runtime } : {}), CATTY_TEST_CANARY: API_CANARY, CATTY_HOME: home, HOME: home },
    });
  }, 120_000);
  afterAll(async () => {
    await api?.close();
  });

  it.skipIf(why !== null)(`37: the agent cannot reach another session, the API's data, $CATTY_HOME or the runtime's tokens; no capabilities (${name})`, async () => {
    const other = await api.client.call(routes.createSession, { body: { cmd: 'echo other-secret > /workspace/secret.txt; sleep 600', upload: false } });
    const otherWorkspace = join(api.dataDir, 'machines', other.id, 'workspace');
    if (provisioner === 'local') await waitFor(() => existsSync(join(otherWorkspace, 'secret.txt')), 'the other workspace file', { timeoutMs: 60_000, everyMs: 100 });
    const s = await api.client.call(routes.createSession, { body: { cmd: `exec ${provisioner === 'local' ? process.execPath : 'node'} /workspace/probe.mjs; sleep 600` } });
    const needles = [s.connectToken, other.connectToken, 'cat_mt_', 'cat_ct_', API_CANARY, HOME_CANARY, 'other-secret', api.token];
    const config = {
      needles,
      paths: [otherWorkspace, join(otherWorkspace, 'secret.txt'), api.dataDir, join(api.dataDir, 'catty.db'), join(api.dataDir, 'machines'), home, join(home, 'secrets.enc'), join(home, 'secret.key'), join(home, 'credentials.json'), `/proc/${api.pid}/environ`],
      // (/etc inside the sandbox is its own throwaway tmpfs with a few read-only binds, so a
      // write there proves nothing; the host's /etc is checked from outside below.)
      writes: [join(otherWorkspace, 'pwned.txt'), join(api.dataDir, 'pwned.txt'), join(home, 'pwned.txt'), '/usr/pwned.txt', '/usr/bin/pwned'],
    };
    const zip = buildZip([
      { name: 'probe.mjs', data: PROBE },
      { name: 'probe-config.b64', data: Buffer.from(JSON.stringify(config)).toString('base64') },
    ]);
    const up = await runtimeFetch(s, '/upload', { method: 'POST', headers: { authorization: `Bearer ${s.connectToken}`, 'content-type': 'application/zip' }, body: new Uint8Array(zip) });
    expect(up.status).toBe(200);
    const out = await waitFor(async () => {
      const text = (await sessionLogs(api.client, s.label)).toString();
      return text.includes('PROBE-DONE') && text;
    }, 'the probe to finish', { timeoutMs: 120_000, everyMs: 100 });
    console.log(`37 (${name}) probe:\n${out.trim()}`);
    expect(out).not.toMatch(/FOUND \d+ IN/);
    expect(out).not.toMatch(/^READ /m);
    expect(out).not.toMatch(/^WROTE /m);
    expect(out).not.toContain('other-secret');
    // It did attack the runtime, with ways that work (on itself), and got nothing.
    const runtimePid = /^TARGET (\d+) \S+ runtime\r?$/m.exec(out)?.[1];
    expect(runtimePid).toBeDefined();
    // (Docker's seccomp profile refuses process_vm_readv to everyone without CAP_SYS_PTRACE;
    // gVisor refuses a child attaching its parent, the probe's ptrace control.)
    for (const way of provisioner === 'local' ? ['mem', 'vm', 'ptrace'] : gvisor ? ['mem'] : ['mem', 'ptrace']) expect(out).toMatch(new RegExp(`^CONTROL ${way} ok\\r?$`, 'm'));
    if (gvisor) {
      // The runtime's environ is read there, and holds no token (no FOUND above): the runtime got
      // its settings on stdin (infra/catty-session.sh).
      expect([...out.matchAll(/^ENVIRON-READ (\d+) /gm)].map((m) => m[1])).toEqual([runtimePid]);
      expect(out).not.toMatch(/^(MEM-OPEN|VM-READ|PTRACE) /m);
    } else expect(out).not.toMatch(/^(ENVIRON-READ|MEM-OPEN|VM-READ|PTRACE) /m);
    expect(out).toMatch(/^UID [1-9]\d*\r?$/m);
    expect(out).toMatch(/^CAPEFF 0000000000000000\r?$/m);
    for (const f of [...config.writes, '/etc/pwned.txt']) expect(existsSync(f), f).toBe(false);
    await api.client.call(routes.stop, { params: { ref: s.label } });
    await api.client.call(routes.stop, { params: { ref: other.label } }).catch((err: unknown) => {
      if (!(err instanceof RouteError)) throw err;
    });
  });
});
