/**
 * The CLI reaches a runtime through its Unix socket when the API hands one out (issue 20 item 3:
 * the embedded control plane's sessions have no TCP port): `catty new` uploads through it and
 * `catty connect` attaches through it — the built `catty-session` listening on `unix:PATH`, a
 * fake API naming the socket. (A socket path from an API not on this machine is refused:
 * tests/unit/cli-runtime-target.test.ts.)
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeApi, loginTo } from '../helpers/cli-fake-api.js';
import { runCli, startCli } from '../helpers/cli.js';
import { agentCmd, startRuntime, type RuntimeProcess } from '../helpers/runtime.js';
import { tempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/wait.js';

let rt: RuntimeProcess;
let api: FakeApi;
beforeAll(async () => {
  rt = await startRuntime({ listen: 'unix', env: { CATTY_AGENT_CMD: agentCmd('echo.mjs') } });
  api = await FakeApi.start({ connectUrl: rt.url, socketPath: rt.socketPath, connectToken: rt.token });
});
afterAll(async () => {
  await api?.close();
  await rt?.stop();
});

function loggedIn(): string {
  const home = tempDir('sock-home');
  loginTo(home, api);
  return home;
}

/** The inodes of the TCP sockets listening on this host's (this namespace's) addresses. */
function listeningTcpInodes(): Set<string> {
  const inodes = new Set<string>();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of fs.readFileSync(file, 'utf8').split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields[3] === '0A') inodes.add(fields[9]!);
    }
  }
  return inodes;
}

describe('the CLI over a runtime’s Unix socket', () => {
  it('the runtime says where it listens (unix:PATH), its socket is 0600, and it has no TCP listener', () => {
    expect(rt.stdout()).toMatch(new RegExp(`^catty-session listening on unix:${rt.socketPath}$`, 'm'));
    expect(rt.url).toBe('http://localhost');
    expect(fs.lstatSync(rt.socketPath!).mode & 0o777).toBe(0o600);
    const listening = listeningTcpInodes();
    const fds = fs.readdirSync(`/proc/${rt.proc.pid}/fd`).map((fd) => {
      try {
        return /socket:\[(\d+)\]/.exec(fs.readlinkSync(`/proc/${rt.proc.pid}/fd/${fd}`))?.[1];
      } catch {
        return undefined;
      }
    });
    expect(fds.filter((inode) => inode !== undefined && listening.has(inode))).toEqual([]);
  });

  it('catty new uploads through the socket; catty connect attaches through it (echo, detach)', async () => {
    const dir = tempDir('sock-project');
    fs.writeFileSync(path.join(dir, 'hello.txt'), 'over the socket\n');
    const home = loggedIn();
    const created = await runCli(['new', '--detach', '--no-sync-back'], { home, cwd: dir, env: { CATTY_API_URL: api.url } });
    expect(created.code, created.stderr).toBe(0);
    expect(fs.readFileSync(path.join(rt.workspace, 'hello.txt'), 'utf8')).toBe('over the socket\n');
    const label = created.stdout.trim().split('\n').at(-1)!;

    const run = startCli(['connect', label, '--no-sync-back'], { home, env: { CATTY_API_URL: api.url } });
    await waitFor(() => run.stdout.text.includes('READY'), 'the agent over the socket', { timeoutMs: 10_000, everyMs: 20 });
    run.stdin.write('ping-through-the-socket');
    await waitFor(() => run.stdout.text.includes('ping-through-the-socket'), 'the echo', { timeoutMs: 10_000, everyMs: 20 });
    run.stdin.write(Buffer.from([0x1d])); // Ctrl-] detaches
    expect(await run.code).toBe(0);
  });
});
