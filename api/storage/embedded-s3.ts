/**
 * The embedded S3 server (s3rver) for the local control plane: 127.0.0.1, a free port, files in
 * `<data dir>/s3`. It does not verify signatures, so presigned-URL expiry and tampering are
 * enforced only by a real S3 in a deployment.
 */
import { mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import S3rver from 's3rver';

export interface EmbeddedS3 {
  endpoint: string;
  close(): Promise<void>;
}

export async function startEmbeddedS3(dataDir: string): Promise<EmbeddedS3> {
  const directory = join(dataDir, 's3');
  mkdirSync(directory, { recursive: true, mode: 0o700 });
  const server = new S3rver({ address: '127.0.0.1', port: 0, directory, silent: true, vhostBuckets: false });
  const address = (await server.run()) as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    async close() {
      await server.close().catch(() => undefined);
    },
  };
}
