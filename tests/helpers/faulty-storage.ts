/**
 * The built catty-api whose snapshot storage (s3rver) is reached through a fault proxy: the
 * presigned URLs point at the proxy, so tests can stall, throttle or refuse the runtime's PUTs.
 */
import { startTestApi, type TestApi } from './api.js';
import { startFaultProxy, type FaultProxy } from './fault-proxy.js';
import { startS3, type S3Server } from './s3.js';

export interface FaultyStorageApi {
  s3: S3Server;
  proxy: FaultProxy;
  api: TestApi;
  close(): Promise<void>;
}

export async function startApiWithFaultyStorage(snapshotIntervalMs: number): Promise<FaultyStorageApi> {
  const s3 = await startS3('catty');
  const proxy = await startFaultProxy(Number(new URL(s3.endpoint).port));
  const api = await startTestApi({
    env: { CATTY_S3_ENDPOINT: `http://127.0.0.1:${proxy.port}`, CATTY_S3_BUCKET: 'catty', CATTY_S3_FORCE_PATH_STYLE: 'true' },
    runtimeEnv: { CATTY_SNAPSHOT_INTERVAL_MS: String(snapshotIntervalMs) },
  });
  return {
    s3,
    proxy,
    api,
    async close() {
      await api.close();
      await proxy.close();
      await s3.stop();
    },
  };
}
