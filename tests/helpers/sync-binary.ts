/**
 * The built `catty connect` (dist/cli/bin.js, its own process) against a fake control plane and
 * a scripted fake runtime speaking the real protocol module — for sync-back tests that need the
 * real binary: its memory (VmRSS), its open files, a SIGKILL. Call `useSyncBinary(label)` at the
 * top of a describe: it registers its beforeAll/afterAll there.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { FakeApi, loginTo } from './cli-fake-api.js';
import { cliEnv } from './cli.js';
import { FakeRuntime, type FakeClient } from './fake-runtime.js';
import { CATTY_BIN } from './paths.js';
import { sha } from './sync-harness.js';
import { tempDir } from './temp-dir.js';
import { waitFor } from './wait.js';

export interface BinarySync {
  child: ChildProcess;
  home: string;
  local: string;
  /** Resolves with the exit code and everything the CLI printed to stderr. */
  done: Promise<{ code: number | null; stderr: string }>;
}

export interface SyncBinaryHarness {
  /**
   * A local directory with `files` (also the base manifest, unless `base` names another), the
   * session record pointing at it, and the built `catty connect` running; `script` gets the
   * client once it has asked for sync-back.
   */
  start(files: Record<string, string | Buffer>, script: (client: FakeClient) => Promise<void>, base?: Record<string, string | Buffer>): Promise<BinarySync>;
}

export function useSyncBinary(label: string): SyncBinaryHarness {
  let api: FakeApi;
  let runtime: FakeRuntime;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    runtime = await FakeRuntime.start();
    api = await FakeApi.start({ connectUrl: runtime.url, connectToken: runtime.token });
    api.addSession({ label });
  });
  afterAll(async () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await runtime.close();
    await api.close();
  });

  return {
    async start(files, script, base = files) {
      const root = tempDir('sync-bin');
      const home = path.join(root, 'home');
      const local = path.join(root, 'project');
      fs.mkdirSync(local);
      fs.mkdirSync(path.join(home, 'sessions'), { recursive: true, mode: 0o700 });
      fs.writeFileSync(path.join(home, 'sessions', `${label}.json`), JSON.stringify({ label, id: 'id-bin', apiUrl: api.url, localDir: local, createdAt: new Date().toISOString() }));
      for (const [rel, content] of Object.entries(files)) {
        fs.mkdirSync(path.dirname(path.join(local, rel)), { recursive: true });
        fs.writeFileSync(path.join(local, rel), content);
      }
      const manifest = Object.fromEntries(Object.entries(base).map(([rel, content]) => [rel, { sha256: sha(content), executable: false }]));
      fs.writeFileSync(path.join(home, 'sessions', `${label}.manifest.json`), JSON.stringify({ version: 1, files: manifest }));
      loginTo(home, api);
      runtime.onConnect = (client) => {
        client.hello(0);
        void waitFor(() => client.control.some((m) => m.type === 'sync_back'), 'sync_back', { timeoutMs: 20_000 })
          .then(() => script(client))
          .then(() => {
            if (client.ws.readyState === 1) client.exit(0);
          })
          .catch(() => client.close(1011, 'script failed'));
      };
      const child = spawn(process.execPath, [CATTY_BIN, 'connect', label], { env: cliEnv(home, { CATTY_API_URL: api.url }), stdio: ['pipe', 'ignore', 'pipe'] });
      children.push(child);
      let stderr = '';
      child.stderr?.setEncoding('utf8').on('data', (text: string) => (stderr += text));
      const done = new Promise<{ code: number | null; stderr: string }>((resolve) => child.on('close', (code) => resolve({ code, stderr })));
      return { child, home, local, done };
    },
  };
}

/** A process's resident set in bytes (Linux /proc), or null once it is gone. */
export function rssBytes(pid: number): number | null {
  try {
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** Whether the process has `file` open (Linux /proc/<pid>/fd). */
export function hasOpen(pid: number, file: string): boolean {
  try {
    return fs.readdirSync(`/proc/${pid}/fd`).some((fd) => {
      try {
        return fs.readlinkSync(`/proc/${pid}/fd/${fd}`) === file;
      } catch {
        return false;
      }
    });
  } catch {
    return false;
  }
}
