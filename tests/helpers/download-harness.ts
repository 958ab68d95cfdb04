/**
 * `catty download` harness: a storage stub serving whatever archive the test sets (or a 403,
 * as real S3 answers an expired or tampered URL) and a fake control plane whose download info
 * points at it. Call `useDownloadHarness()` at the top of a test file (registers beforeAll/
 * afterAll). Used by tests/integration/cli-download.test.ts and tests/security/download.test.ts.
 */
import crypto from 'node:crypto';
import http from 'node:http';
import { afterAll, beforeAll } from 'vitest';
import { FakeApi, loginTo } from './cli-fake-api.js';
import { runCli } from './cli.js';
import { closeServer, listenLoopback } from './loopback.js';
import { tempDir } from './temp-dir.js';

export const DOWNLOAD_LABEL = 'quiet-lynx-0004';

export interface DownloadHarness {
  readonly api: FakeApi;
  /** Serve `archive` next (its sha256 recorded unless overridden; or answer `status`). */
  serve(archive: Buffer, options?: { sha256?: string; status?: number }): void;
  /** `catty download <label> ...args` from a fresh empty cwd. */
  download(args?: string[]): Promise<{ code: number; stdout: string; stderr: string; cwd: string }>;
}

export function useDownloadHarness(): DownloadHarness {
  let api: FakeApi;
  let storage: http.Server;
  let storageUrl = '';
  let served: Buffer = Buffer.alloc(0);
  let storageStatus = 200;

  beforeAll(async () => {
    storage = http.createServer((_req, res) => {
      if (storageStatus !== 200) return void res.writeHead(storageStatus, { 'content-type': 'application/xml' }).end('<Error><Code>AccessDenied</Code></Error>');
      res.writeHead(200, { 'content-length': served.length }).end(served);
    });
    storageUrl = `${(await listenLoopback(storage)).url}/bucket/sessions/x/snapshots/1.tar.gz?X-Amz-Signature=abc`;
    api = await FakeApi.start();
    api.addSession({ label: DOWNLOAD_LABEL, status: 'stopped' });
  });
  afterAll(async () => {
    await closeServer(storage);
    await api.close();
  });

  return {
    get api() {
      return api;
    },
    serve(archive, options = {}) {
      served = archive;
      storageStatus = options.status ?? 200;
      api.state.download = {
        url: storageUrl,
        size: archive.length,
        sha256: options.sha256 ?? crypto.createHash('sha256').update(archive).digest('hex'),
        createdAt: new Date().toISOString(),
        expiresIn: 300,
      };
    },
    async download(args = []) {
      const home = tempDir('dl');
      const cwd = tempDir('dl-cwd');
      loginTo(home, api);
      const result = await runCli(['download', DOWNLOAD_LABEL, ...args], { home, cwd, env: { CATTY_API_URL: api.url } });
      return { ...result, cwd };
    },
  };
}
