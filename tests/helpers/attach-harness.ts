/**
 * One session served by a fake API whose runtime is a scripted FakeRuntime: the setup shared by
 * the tests that drive a real `catty connect` (in-process, or the built binary) against a
 * runtime that cuts, replays, replaces or ends on cue.
 */
import { FakeApi, loginTo } from './cli-fake-api.js';
import { FakeRuntime, type FakeClient } from './fake-runtime.js';
import { startCli } from './cli.js';
import { tempDir } from './temp-dir.js';

export interface AttachHarness {
  api: FakeApi;
  runtime: FakeRuntime;
  /** A fresh $CATTY_HOME logged in to the fake API. */
  loggedInHome(prefix: string): string;
  /** `catty connect <label> --no-sync-back` in-process; `onConnect` scripts the runtime's side. */
  connect(onConnect: (client: FakeClient) => void, options?: { args?: string[]; env?: NodeJS.ProcessEnv }): Promise<ReturnType<typeof startCli>>;
  close(): Promise<void>;
}

export async function startAttachHarness(label: string): Promise<AttachHarness> {
  const runtime = await FakeRuntime.start();
  const api = await FakeApi.start({ connectUrl: runtime.url, connectToken: runtime.token });
  api.addSession({ label });
  const loggedInHome = (prefix: string): string => {
    const home = tempDir(prefix);
    loginTo(home, api);
    return home;
  };
  return {
    api,
    runtime,
    loggedInHome,
    async connect(onConnect, options = {}) {
      runtime.onConnect = onConnect;
      const home = loggedInHome('attach');
      return startCli(['connect', label, '--no-sync-back', ...(options.args ?? [])], {
        home,
        env: { CATTY_API_URL: api.url, CATTY_RECONNECT_BASE_MS: '10', ...options.env },
      });
    },
    async close() {
      await runtime.close();
      await api.close();
    },
  };
}

/** An agent's whole output as numbered lines, so a lost or doubled byte shows. */
export function outputLog(bytes: number): Buffer {
  let text = '';
  for (let i = 0; text.length < bytes; i++) text += `line ${i} ${'x'.repeat(i % 37)}\n`;
  return Buffer.from(text.slice(0, bytes));
}
