/**
 * Sync-back harness: a fake runtime (real protocol module) scripted by the test sends file
 * messages to a real `catty connect` running in-process, against a fake control plane. Call
 * `useSyncHarness()` at the top of a test file: it registers its beforeAll/afterAll there.
 * Used by tests/integration/cli-sync.test.ts and tests/security/sync-back.test.ts.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import type { RuntimeMessage } from '../../session-runtime/wire/protocol.js';
import { FakeApi, loginTo } from './cli-fake-api.js';
import { FakeRuntime, type FakeClient } from './fake-runtime.js';
import { startCli } from './cli.js';
import { tempDir } from './temp-dir.js';
import { waitFor } from './wait.js';

export const SYNC_LABEL = 'hostile-otter-0001';
export const sha = (b: Buffer | string): string => crypto.createHash('sha256').update(b).digest('hex');
export const write = (rel: string, content: string, executable = false): RuntimeMessage => ({
  type: 'file_change',
  path: rel,
  action: 'write',
  executable,
  size: Buffer.byteLength(content),
  sha256: sha(content),
  content: Buffer.from(content).toString('base64'),
});
export const del = (rel: string): RuntimeMessage => ({ type: 'file_change', path: rel, action: 'delete' });

export function listAll(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true, encoding: 'utf8' }).sort();
}

export interface SyncSetup {
  home: string;
  local: string;
  outside: string;
}

export type Script = RuntimeMessage[] | ((client: FakeClient) => Promise<void>);

export interface SyncHarness {
  readonly api: FakeApi;
  readonly runtime: FakeRuntime;
  /** false: the test expects no sync_back request (--no-sync-back). */
  expectSync: boolean;
  /** A home with a session record pointing at a fresh local dir, and a base manifest. */
  setup(base?: Record<string, string>, files?: Record<string, string>): SyncSetup;
  startConnect(s: SyncSetup, messages: Script, extraArgs?: string[]): Promise<{ run: ReturnType<typeof startCli>; done: Promise<{ code: number; stderr: string; stdout: string }> }>;
  connectWith(s: SyncSetup, messages: Script, extraArgs?: string[]): Promise<{ code: number; stderr: string; stdout: string }>;
}

export function useSyncHarness(): SyncHarness {
  let api: FakeApi;
  let runtime: FakeRuntime;
  let script: (client: FakeClient) => Promise<void> = async () => undefined;

  const h: SyncHarness = {
    get api() {
      return api;
    },
    get runtime() {
      return runtime;
    },
    expectSync: true,
    setup(base = {}, files = {}) {
      const root = tempDir('sync');
      const home = path.join(root, 'home');
      const local = path.join(root, 'project');
      const outside = path.join(root, 'outside');
      fs.mkdirSync(local);
      fs.mkdirSync(outside);
      fs.mkdirSync(path.join(home, 'sessions'), { recursive: true, mode: 0o700 });
      fs.writeFileSync(path.join(home, 'sessions', `${SYNC_LABEL}.json`), JSON.stringify({ label: SYNC_LABEL, id: 'id-1', apiUrl: api.url, localDir: local, createdAt: new Date().toISOString() }));
      const manifest = Object.fromEntries(Object.entries(base).map(([rel, content]) => [rel, { sha256: sha(content), executable: false }]));
      fs.writeFileSync(path.join(home, 'sessions', `${SYNC_LABEL}.manifest.json`), JSON.stringify({ version: 1, files: manifest }));
      for (const [rel, content] of Object.entries(files)) {
        fs.mkdirSync(path.dirname(path.join(local, rel)), { recursive: true });
        fs.writeFileSync(path.join(local, rel), content);
      }
      return { home, local, outside };
    },
    async startConnect(s, messages, extraArgs = []) {
      loginTo(s.home, api);
      script = async (client) => {
        if (typeof messages === 'function') await messages(client);
        else for (const m of messages) client.send(m);
        if (client.ws.readyState === 1) client.exit(0);
      };
      const run = startCli(['connect', SYNC_LABEL, ...extraArgs], { home: s.home, cwd: s.outside, env: { CATTY_API_URL: api.url, CATTY_RECONNECT_BASE_MS: '10' } });
      const done = run.code.then((code) => ({ code, stderr: run.stderr.text, stdout: run.stdout.text }));
      return { run, done };
    },
    async connectWith(s, messages, extraArgs = []) {
      return (await h.startConnect(s, messages, extraArgs)).done;
    },
  };

  beforeAll(async () => {
    runtime = await FakeRuntime.start({
      onConnect: (client) => {
        void (async () => {
          if (h.expectSync) {
            client.hello(0);
            await waitFor(() => client.control.some((m) => m.type === 'sync_back' && m.enabled), 'sync_back', { timeoutMs: 10_000 });
          } else {
            // A hello of another size than the terminal's is answered with a resize, in the same
            // turn as a sync_back would be sent: once the resize is here, the hello was handled.
            client.hello(0, { cols: client.cols + 1 });
            await waitFor(() => client.control.some((m) => m.type === 'resize'), 'the CLI to handle the hello', { timeoutMs: 10_000 });
          }
          await script(client);
        })().catch(() => client.close(1011, 'script failed'));
      },
    });
    api = await FakeApi.start({ connectUrl: runtime.url, connectToken: runtime.token });
    api.addSession({ label: SYNC_LABEL });
  });
  afterAll(async () => {
    await runtime.close();
    await api.close();
  });
  return h;
}
