/**
 * An S3-protocol server (s3rver) on 127.0.0.1:0 with a temp directory, plus a tiny fake API on
 * loopback that serves the runtime callbacks (the contract's machine routes) with real presigned URLs, and
 * records every call so tests can assert on them.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import S3rver from 's3rver';
import { ExitReport, Heartbeat, LogsUpload, PresignRequest, SnapshotReport } from '../../api/contract/schemas.js';
import { closeServer, listenLoopback } from './loopback.js';
import { matchRoute } from './routes.js';

export interface S3Server {
  endpoint: string;
  bucket: string;
  client: S3Client;
  getObject(key: string): Promise<Buffer>;
  stop(): Promise<void>;
}

export async function startS3(bucket = 'catty-test'): Promise<S3Server> {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'catty-s3-'));
  const server = new S3rver({ address: '127.0.0.1', port: 0, directory, silent: true, configureBuckets: [{ name: bucket }] });
  const address = (await server.run()) as AddressInfo;
  const endpoint = `http://127.0.0.1:${address.port}`;
  const client = new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  });
  return {
    endpoint,
    bucket,
    client,
    getObject: async (key) => {
      const res = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return Buffer.from(await res.Body!.transformToByteArray());
    },
    stop: async () => {
      client.destroy();
      await server.close();
      fs.rmSync(directory, { recursive: true, force: true });
    },
  };
}

export interface FakeRuntimeApi {
  url: string;
  machineToken: string;
  s3: S3Server;
  presigns: { key: string; size: number }[];
  snapshots: SnapshotReport[];
  heartbeats: Heartbeat[];
  logs: LogsUpload[];
  exits: ExitReport[];
  /** Make the next `n` presign calls answer 503 (storage trouble). */
  failPresigns(n: number): void;
  stop(): Promise<void>;
}

export interface FakeRuntimeApiOptions {
  /** Port the presigned URLs point at instead of s3rver's (a fault proxy in front of it); the
   * embedded s3rver does not check signatures, so rewriting the host keeps them valid. */
  storagePort?: () => number;
}

/** Starts s3rver and the fake callbacks API; `env()` gives what catty-session needs. */
export async function startFakeRuntimeApi(options: FakeRuntimeApiOptions = {}): Promise<FakeRuntimeApi & { env(): Record<string, string> }> {
  const s3 = await startS3();
  const machineToken = randomBytes(16).toString('hex');
  let failing = 0;
  let seq = 0;
  const state = { presigns: [] as { key: string; size: number }[], snapshots: [] as SnapshotReport[], heartbeats: [] as Heartbeat[], logs: [] as LogsUpload[], exits: [] as ExitReport[] };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const reply = (status: number, body: unknown): void => {
          res.writeHead(status, { 'content-type': 'application/json' });
          res.end(JSON.stringify(body));
        };
        if (req.headers.authorization !== `Bearer ${machineToken}`) return reply(401, { error: { code: 'unauthorized', message: 'bad token' } });
        let body: unknown;
        try {
          body = JSON.parse(Buffer.concat(chunks).toString() || '{}');
        } catch {
          return reply(400, { error: { code: 'invalid_request', message: 'bad json' } });
        }
        try {
          switch (matchRoute(req.method, req.url ?? '')?.name) {
            case 'presign': {
              if (failing > 0) {
                failing -= 1;
                return reply(503, { error: { code: 'unavailable', message: 'storage down' } });
              }
              const { size } = PresignRequest.parse(body);
              const key = `sessions/test/snapshots/${Date.now()}-${seq++}.tar.gz`;
              const signed = new URL(await getSignedUrl(s3.client, new PutObjectCommand({ Bucket: s3.bucket, Key: key, ContentLength: size }), { expiresIn: 300 }));
              if (options.storagePort) signed.port = String(options.storagePort());
              const url = signed.toString();
              state.presigns.push({ key, size });
              return reply(200, { key, url, headers: {} });
            }
            case 'reportSnapshot':
              state.snapshots.push(SnapshotReport.parse(body));
              return reply(200, { ok: true });
            case 'heartbeat':
              state.heartbeats.push(Heartbeat.parse(body));
              return reply(200, { ok: true });
            case 'uploadLogs':
              state.logs.push(LogsUpload.parse(body));
              return reply(200, { ok: true });
            case 'exit':
              state.exits.push(ExitReport.parse(body));
              return reply(200, { ok: true });
            default:
              return reply(404, { error: { code: 'not_found', message: req.url ?? '' } });
          }
        } catch (err) {
          reply(400, { error: { code: 'invalid_request', message: (err as Error).message } });
        }
      })();
    });
  });
  const { url } = await listenLoopback(server);
  return {
    url,
    machineToken,
    s3,
    ...state,
    failPresigns: (n) => (failing = n),
    env: () => ({ CATTY_API_URL: url, CATTY_MACHINE_TOKEN: machineToken }),
    stop: async () => {
      await closeServer(server);
      await s3.stop();
    },
  };
}
