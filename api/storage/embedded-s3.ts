/**
 * The embedded S3 server (s3rver) for the local control plane: 127.0.0.1, a free port, files in
 * `<data dir>/s3` (0700). Loopback is open to every process of every user of the machine, and
 * s3rver serves unsigned requests and checks no V4 signature, so it runs behind a front handler
 * of ours (issue 20, item 7): every request must carry a valid AWS Signature V4 — header-signed
 * by the API's S3 client or a presigned URL within its expiry — for this data directory's own
 * key (sigv4-verify.ts); anything else is answered 403 before s3rver sees it. The key is random,
 * made once per data directory and kept in `<data dir>/s3-credentials.json` (0600); s3rver's
 * well-known S3RVER key is revoked. The API signs with it (`credentials` below); the runtimes
 * and the CLI only ever get URLs presigned with it.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import S3rver from 's3rver';
import AWSAccount from 's3rver/lib/models/account.js';
import { verifySigV4, type S3Credentials } from './sigv4-verify.js';

export interface EmbeddedS3 {
  endpoint: string;
  /** The key the API signs with (and presigns URLs with). */
  credentials: S3Credentials;
  close(): Promise<void>;
}

/** s3rver's built-in key pair, the same on every machine. */
const WELL_KNOWN_KEY_ID = 'S3RVER';
const KEY_ID = /^[A-Z0-9]{20}$/;
const SECRET = /^[A-Za-z0-9_-]{40}$/;

function newCredentials(): S3Credentials {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
  const keyId = `CATTY${[...randomBytes(15)].map((b) => alphabet[b % alphabet.length]).join('')}`;
  return { accessKeyId: keyId, secretAccessKey: randomBytes(30).toString('base64url') };
}

/** This data directory's key: read, or made once (0600, written whole then renamed). */
export function loadOrCreateS3Credentials(dataDir: string): S3Credentials {
  const path = join(dataDir, 's3-credentials.json');
  if (!existsSync(path)) {
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(newCredentials())}\n`, { mode: 0o600, flag: 'wx' });
    renameSync(tmp, path);
  }
  chmodSync(path, 0o600);
  let parsed: Partial<S3Credentials>;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8')) as Partial<S3Credentials>;
  } catch {
    throw new Error(`${path} is not valid JSON: remove it to make a new key (the embedded storage's objects stay readable)`);
  }
  if (typeof parsed.accessKeyId !== 'string' || !KEY_ID.test(parsed.accessKeyId) || typeof parsed.secretAccessKey !== 'string' || !SECRET.test(parsed.secretAccessKey)) {
    throw new Error(`${path} does not hold an accessKeyId and secretAccessKey: remove it to make a new key`);
  }
  return { accessKeyId: parsed.accessKeyId, secretAccessKey: parsed.secretAccessKey };
}

function refuse(res: http.ServerResponse, code: string, message: string): void {
  const escaped = message.replace(/[<>&]/g, (c) => `&#${c.charCodeAt(0)};`);
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${escaped}</Message></Error>`;
  // The body of a refused upload is not read: the connection goes with the answer.
  res.writeHead(403, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body), connection: 'close' });
  res.end(body);
}

export async function startEmbeddedS3(dataDir: string): Promise<EmbeddedS3> {
  const directory = join(dataDir, 's3');
  mkdirSync(directory, { recursive: true, mode: 0o700 });
  chmodSync(directory, 0o700);
  const credentials = loadOrCreateS3Credentials(dataDir);
  const served = await serveS3({ host: '127.0.0.1', port: 0, directory, credentials });
  return { ...served, credentials };
}

export interface ServeS3Options {
  host: string;
  port: number;
  /** s3rver's files (buckets are directories). */
  directory: string;
  /** The one key every request must be signed with. */
  credentials: S3Credentials;
  /** Answer `GET <healthPath>` unsigned with 200 (the standalone server's health check). */
  healthPath?: string;
}

/** s3rver behind the SigV4 check, on host:port; also what `catty-api s3-server` runs. */
export async function serveS3(options: ServeS3Options): Promise<{ endpoint: string; close(): Promise<void> }> {
  const { credentials } = options;
  // s3rver's key registry is its module's, shared by the process: the well-known key goes, ours
  // comes (s3rver looks a V4 request's key id up there after our check, which alone decides).
  AWSAccount.DUMMY_ACCOUNT.revokeAccessKey(WELL_KNOWN_KEY_ID);
  AWSAccount.DUMMY_ACCOUNT.createKeyPair(credentials.accessKeyId, credentials.secretAccessKey);

  const s3rver = new S3rver({ directory: options.directory, silent: true, vhostBuckets: false });
  const handle = s3rver.callback();
  const server = http.createServer((req, res) => {
    if (options.healthPath && req.method === 'GET' && req.url === options.healthPath) {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      return;
    }
    const verdict = verifySigV4({ method: req.method ?? '', url: req.url ?? '', headers: req.headersDistinct }, credentials, Date.now());
    if (!verdict.ok) return refuse(res, verdict.code, verdict.message);
    void handle(req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    endpoint: `http://${host}:${address.port}`,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      await closed;
      s3rver.logger.close();
    },
  };
}
