/**
 * `catty-api s3-server --listen H:P --dir D`: the embedded S3 store (s3rver behind the SigV4
 * check, embedded-s3.ts) as a process of its own — the one object store API replicas share in
 * shared mode when no other S3 service is at hand (the stack's S3 service, the replica tests).
 * Its one key comes from the environment, the same names the API signs with:
 * CATTY_S3_ACCESS_KEY_ID and CATTY_S3_SECRET_ACCESS_KEY, or `_FILE` variants naming files that
 * hold them (Docker secrets). Unsigned `GET /_catty/healthz` answers 200 (an underscore cannot
 * start a bucket name, so no bucket is shadowed). Runs until SIGTERM/SIGINT.
 */
import { chmodSync, mkdirSync, readFileSync } from 'node:fs';
import { Command } from 'commander';
import { reportError } from '../../session-runtime/wire/errors.js';
import { usageError } from '../errors.js';
import { serveS3 } from './embedded-s3.js';
import type { S3Credentials } from './sigv4-verify.js';

export const S3_HEALTH_PATH = '/_catty/healthz';

type Env = Record<string, string | undefined>;

/** The value of `name`, or the trimmed contents of the file `name_FILE` names. */
function secretFromEnv(env: Env, name: string): string | undefined {
  const direct = env[name];
  const file = env[`${name}_FILE`];
  if (direct && file) throw usageError(`both ${name} and ${name}_FILE are set`, 'Set one of them.');
  if (direct) return direct;
  if (!file) return undefined;
  try {
    return readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw usageError(`cannot read ${name}_FILE (${file}): ${(err as Error).message}`);
  }
}

const KEY_ID = /^[A-Za-z0-9]{16,128}$/;
const SECRET = /^[\x21-\x7e]{32,128}$/;

export function s3ServerCredentials(env: Env): S3Credentials {
  const accessKeyId = secretFromEnv(env, 'CATTY_S3_ACCESS_KEY_ID');
  const secretAccessKey = secretFromEnv(env, 'CATTY_S3_SECRET_ACCESS_KEY');
  const hint = 'Set CATTY_S3_ACCESS_KEY_ID (16+ letters and digits) and CATTY_S3_SECRET_ACCESS_KEY (32+ printable characters), or their _FILE variants: the same values the API replicas sign with.';
  if (!accessKeyId || !secretAccessKey) throw usageError('the S3 server needs its key', hint);
  if (!KEY_ID.test(accessKeyId) || accessKeyId === 'S3RVER') throw usageError('CATTY_S3_ACCESS_KEY_ID must be 16–128 letters and digits (not the well-known S3RVER)', hint);
  if (!SECRET.test(secretAccessKey)) throw usageError('CATTY_S3_SECRET_ACCESS_KEY must be 32–128 printable characters without spaces', hint);
  return { accessKeyId, secretAccessKey };
}

export interface S3ServerFlags {
  listen: string;
  dir: string;
}

/** Serves until one of `signals` arrives; returns the exit code. */
export async function runS3Server(flags: S3ServerFlags, env: Env = process.env, signals: NodeJS.EventEmitter = process): Promise<number> {
  const m = /^(.+):(\d{1,5})$/.exec(flags.listen);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw usageError(`--listen "${flags.listen}" must be host:port`, 'e.g. --listen 0.0.0.0:9000');
  const credentials = s3ServerCredentials(env);
  mkdirSync(flags.dir, { recursive: true, mode: 0o700 });
  chmodSync(flags.dir, 0o700);
  const host = m[1]!.replace(/^\[(.*)\]$/, '$1');
  const server = await serveS3({ host, port, directory: flags.dir, credentials, healthPath: S3_HEALTH_PATH });
  process.stdout.write(`catty-api s3-server listening on ${server.endpoint}\n`);
  return new Promise<number>((resolve) => {
    const stop = () => void server.close().then(() => resolve(0), () => resolve(1));
    for (const sig of ['SIGINT', 'SIGTERM'] as const) signals.once(sig, stop);
  });
}

/** argv after `s3-server`. */
export async function s3ServerMain(argv: string[]): Promise<number> {
  let flags: S3ServerFlags | null = null;
  const program = new Command('catty-api s3-server')
    .description('Serve an S3 store (SigV4-checked) for API replicas to share. Key: CATTY_S3_ACCESS_KEY_ID and CATTY_S3_SECRET_ACCESS_KEY (or _FILE).')
    .requiredOption('--listen <host:port>', 'address to listen on, e.g. 0.0.0.0:9000')
    .requiredOption('--dir <dir>', 'directory for the objects (made 0700)')
    .exitOverride()
    .action((opts: S3ServerFlags) => {
      flags = opts;
    });
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    const code = (err as { exitCode?: number }).exitCode;
    return code === 0 ? 0 : 2;
  }
  if (!flags) return 2;
  try {
    return await runS3Server(flags);
  } catch (err) {
    return reportError(err, { program: 'catty-api s3-server', stderr: process.stderr, debug: false });
  }
}
