/**
 * The API's configuration, resolved once: flags > `CATTY_*` environment > config file
 * (`CATTY_CONFIG`, JSON) > defaults. Nothing here reads globals at import time; `loadConfig`
 * takes everything it looks at, so tests build configs without touching `process.env`.
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import * as z from '../session-runtime/wire/zod.js';
import { usageError } from './errors.js';
import { parseTrustedProxies } from './middleware/client-address.js';
import { readSealingKeys, sharedModeRefusal, type SealingKeys } from './shared-mode.js';

const HostPort = z.string().check(z.regex(/^[^\s:]+:\d{1,5}$/, 'must be host:port'));

/** The file's shape (every key optional; same names as the env vars, camelCased). */
const FileConfig = z.strictObject({
  listen: z.optional(HostPort),
  mode: z.optional(z.enum(['single', 'shared'])),
  databaseUrl: z.optional(z.string().check(z.minLength(1))),
  secretKeyFile: z.optional(z.string().check(z.minLength(1))),
  secretKeyPreviousFile: z.optional(z.string().check(z.minLength(1))),
  publicUrl: z.optional(z.url()),
  machineApiUrl: z.optional(z.url()),
  dataDir: z.optional(z.string().check(z.minLength(1))),
  provisioner: z.optional(z.enum(['local', 'docker', 'swarm'])),
  localSandbox: z.optional(z.enum(['auto', 'bwrap', 'none'])),
  localNice: z.optional(z.int().check(z.gte(0), z.lte(19))),
  localSpare: z.optional(z.boolean()),
  s3: z.optional(
    z.strictObject({
      endpoint: z.optional(z.url()),
      region: z.optional(z.string()),
      bucket: z.optional(z.string()),
      accessKeyId: z.optional(z.string()),
      secretAccessKey: z.optional(z.string()),
      forcePathStyle: z.optional(z.boolean()),
    }),
  ),
  maxSessionsPerUser: z.optional(z.int().check(z.positive())),
  defaultTtlSec: z.optional(z.int().check(z.positive())),
  snapshotsKept: z.optional(z.int().check(z.positive())),
  deviceCodeIntervalSec: z.optional(z.int().check(z.positive())),
  deviceCodeTtlSec: z.optional(z.int().check(z.positive())),
  accessTokenTtlSec: z.optional(z.int().check(z.positive())),
  refreshTokenTtlSec: z.optional(z.int().check(z.positive())),
  sweepIntervalMs: z.optional(z.int().check(z.positive())),
  healthTimeoutMs: z.optional(z.int().check(z.positive())),
  stopGraceMs: z.optional(z.int().check(z.nonnegative())),
  runtimeEnv: z.optional(z.record(z.string().check(z.regex(/^CATTY_[A-Z0-9_]+$/)), z.string())),
  nodeTlsDir: z.optional(z.string().check(z.minLength(1))),
  nodePort: z.optional(z.int().check(z.gte(1), z.lte(65535))),
  logFile: z.optional(z.string()),
  logLevel: z.optional(z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])),
  trustedProxies: z.optional(z.array(z.string())),
});
type FileConfig = z.infer<typeof FileConfig>;

export interface S3Config {
  /** Absent: the API starts the embedded S3 server. */
  endpoint: string | null;
  region: string;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
  forcePathStyle: boolean;
}

export interface Config {
  /**
   * `single` (default): one catty-api. `shared`: one of several replicas on one Postgres behind a
   * load balancer (shared-mode.ts lists what that needs; refused at start without it).
   */
  mode: 'single' | 'shared';
  /** postgres://… (shared by replicas), or null: SQLite in the data directory. */
  databaseUrl: string | null;
  /**
   * The at-rest key (connect tokens, the key canary) from CATTY_SECRET_KEY(_FILE), and the one
   * it replaces during a rotation; null: `<dataDir>/secret.key` (single mode only). Printed or
   * serialised, it shows as `[redacted]`.
   */
  sealingKeys: SealingKeys | null;
  listenHost: string;
  listenPort: number;
  /** The URL users' browsers and CLIs reach; null: derived from the bound address. When set,
   * `connectUrl` points at the API's relay (`<publicUrl>/v1/sessions/<id>/runtime`) instead of
   * the runtime, which laptops cannot reach in a deployment (api/relay/). */
  publicUrl: string | null;
  /** The API as session machines reach it; null: the bound address for `local`, else publicUrl. */
  machineApiUrl: string | null;
  dataDir: string;
  provisioner: 'local' | 'docker' | 'swarm';
  /** Local provisioner: bwrap when it works (auto), required (bwrap), or never (none). */
  localSandbox: 'auto' | 'bwrap' | 'none';
  /**
   * Local provisioner: the niceness of session machines (runtime and agent, and their
   * scheduling groups: session-runtime/priority.ts), 0–19. They share the host with the control
   * plane and the user's own work. P7 (20 sessions printing 100 KB/s on 2 cores, the machine
   * saturated), once the groups were niced too: list p99 81–100 ms and echo p99 81–138 ms at 5,
   * 40–42 ms and 54–64 ms at 10.
   */
  localNice: number;
  /**
   * Local provisioner: keep one sandboxed machine started ahead for the next session (it skips
   * bubblewrap's and Node's start). Costs one idle process (~40 MB) while the control plane runs.
   */
  localSpare: boolean;
  s3: S3Config;
  maxSessionsPerUser: number;
  defaultTtlSec: number;
  snapshotsKept: number;
  deviceCodeIntervalSec: number;
  deviceCodeTtlSec: number;
  accessTokenTtlSec: number;
  refreshTokenTtlSec: number;
  /** How often the sweeper looks for idle sessions. */
  sweepIntervalMs: number;
  /** How long a new machine gets to answer /healthz. */
  healthTimeoutMs: number;
  /** SIGTERM → SIGKILL grace for a machine (the runtime's final snapshot happens in it). */
  stopGraceMs: number;
  /** Extra `CATTY_*` knobs passed to every runtime (e.g. CATTY_SNAPSHOT_INTERVAL_MS). */
  runtimeEnv: Record<string, string>;
  /** Cluster nodes (catty-node --listen-tls): the directory holding ca.pem, api.pem and
   * api-key.pem (`catty-node certs --api`); null: no cluster nodes. */
  nodeTlsDir: string | null;
  /** The port every cluster node's catty-node listens on (7443). */
  nodePort: number;
  /** null: logs go to stderr. */
  logFile: string | null;
  logLevel: string;
  /**
   * The TLS front's addresses (IPs and CIDRs): a request whose socket is one of them has its
   * client's address read from X-Forwarded-For (api/middleware/client-address.ts), for the
   * sign-in throttle. Empty (default): the socket's address, the header never read.
   */
  trustedProxies: string[];
}

export interface ConfigFlags {
  listen?: string;
  publicUrl?: string;
  dataDir?: string;
  provisioner?: string;
  config?: string;
}

type Env = Record<string, string | undefined>;

function envInt(env: Env, name: string): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw usageError(`${name} must be a non-negative integer, got "${raw}"`);
  return n;
}

function envBool(env: Env, name: string): boolean | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  if (raw === '1' || raw === 'true') return true;
  if (raw === '0' || raw === 'false') return false;
  throw usageError(`${name} must be 1 or 0 (true or false), got ${JSON.stringify(raw)}`);
}

function parseNodePort(value: number): number {
  if (value < 1 || value > 65535) throw usageError(`CATTY_NODE_PORT must be between 1 and 65535, got ${value}`);
  return value;
}

function parseNice(value: number): number {
  if (value > 19) throw usageError(`CATTY_LOCAL_NICE must be between 0 and 19, got ${value}`);
  return value;
}

function envStr(env: Env, name: string): string | undefined {
  const raw = env[name];
  return raw === undefined || raw === '' ? undefined : raw;
}

/** Comma-separated IPs and CIDRs, each checked here so a typo stops the start, not a sign-in. */
function parseProxies(env: Env, file: FileConfig): string[] {
  const raw = envStr(env, 'CATTY_TRUSTED_PROXIES');
  const entries = raw === undefined ? (file.trustedProxies ?? []) : raw.split(',').map((e) => e.trim()).filter((e) => e !== '');
  try {
    parseTrustedProxies(entries);
  } catch (err) {
    throw usageError(`CATTY_TRUSTED_PROXIES (config file: trustedProxies): ${(err as Error).message}`, "Set it to the TLS front's addresses only, e.g. 10.0.9.0/24.");
  }
  return entries.map((e) => e.trim());
}

function readFileConfig(path: string | undefined): FileConfig {
  if (!path) return {};
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw usageError(`cannot read the config file ${path}: ${(err as Error).message}`, 'Set CATTY_CONFIG or --config to a readable JSON file.');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw usageError(`the config file ${path} is not valid JSON`);
  }
  const parsed = FileConfig.safeParse(json);
  if (!parsed.success) throw usageError(`the config file ${path} is invalid: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

function parseRuntimeEnv(raw: string | undefined): Record<string, string> | undefined {
  if (raw === undefined || raw === '') return undefined;
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    throw usageError('CATTY_RUNTIME_ENV must be a JSON object of CATTY_* names to strings');
  }
  const parsed = z.record(z.string().check(z.regex(/^CATTY_[A-Z0-9_]+$/)), z.string()).safeParse(json);
  if (!parsed.success) throw usageError('CATTY_RUNTIME_ENV must be a JSON object of CATTY_* names to strings');
  return parsed.data;
}

function parseSandbox(value: string): Config['localSandbox'] {
  if (value === 'auto' || value === 'bwrap' || value === 'none') return value;
  throw usageError(`CATTY_LOCAL_SANDBOX must be auto, bwrap or none, got "${value}"`);
}

export function loadConfig(flags: ConfigFlags = {}, env: Env = process.env): Config {
  const file = readFileConfig(flags.config ?? envStr(env, 'CATTY_CONFIG'));
  const listen = flags.listen ?? envStr(env, 'CATTY_API_LISTEN') ?? file.listen ?? '127.0.0.1:8787';
  const hp = HostPort.safeParse(listen);
  if (!hp.success) throw usageError(`the listen address "${listen}" must be host:port`, 'Set CATTY_API_LISTEN, e.g. 127.0.0.1:8787.');
  const colon = listen.lastIndexOf(':');
  const listenPort = Number(listen.slice(colon + 1));
  if (listenPort > 65535) throw usageError(`the listen port ${listenPort} is out of range`);
  const provisioner = flags.provisioner ?? envStr(env, 'CATTY_PROVISIONER') ?? file.provisioner ?? 'local';
  if (provisioner !== 'local' && provisioner !== 'docker' && provisioner !== 'swarm') {
    throw usageError(`unknown provisioner "${provisioner}" (CATTY_PROVISIONER)`, 'Set CATTY_PROVISIONER to local, docker or swarm.');
  }
  const publicUrl = flags.publicUrl ?? envStr(env, 'CATTY_PUBLIC_URL') ?? file.publicUrl ?? null;
  const s3f = file.s3 ?? {};
  const endpoint = envStr(env, 'CATTY_S3_ENDPOINT') ?? s3f.endpoint ?? null;
  const mode = envStr(env, 'CATTY_MODE') ?? file.mode ?? 'single';
  if (mode !== 'single' && mode !== 'shared') throw usageError(`CATTY_MODE must be single or shared, got "${mode}"`);
  const sealingKeys = readSealingKeys(env, file);
  const databaseUrl = envStr(env, 'CATTY_DATABASE_URL') ?? file.databaseUrl ?? null;
  const machineApiUrl = (envStr(env, 'CATTY_MACHINE_API_URL') ?? file.machineApiUrl ?? null)?.replace(/\/+$/, '') ?? null;
  const refusal = mode === 'shared' ? sharedModeRefusal({ databaseUrl, sealingKeys, s3Endpoint: endpoint, publicUrl, provisioner }) : null;
  if (refusal) throw refusal;
  return {
    mode,
    databaseUrl,
    sealingKeys,
    listenHost: listen.slice(0, colon),
    listenPort,
    publicUrl: publicUrl ? publicUrl.replace(/\/+$/, '') : null,
    // Shared mode: machines call back through the load balancer (any replica), never the
    // address of the one that started them, which may be gone.
    machineApiUrl: machineApiUrl ?? (mode === 'shared' ? (publicUrl?.replace(/\/+$/, '') ?? null) : null),
    dataDir: flags.dataDir ?? envStr(env, 'CATTY_DATA_DIR') ?? file.dataDir ?? join(homedir(), '.catty', 'api'),
    provisioner,
    localSandbox: parseSandbox(envStr(env, 'CATTY_LOCAL_SANDBOX') ?? file.localSandbox ?? 'auto'),
    localNice: parseNice(envInt(env, 'CATTY_LOCAL_NICE') ?? file.localNice ?? 10),
    localSpare: envBool(env, 'CATTY_LOCAL_SPARE') ?? file.localSpare ?? true,
    s3: {
      endpoint,
      region: envStr(env, 'CATTY_S3_REGION') ?? s3f.region ?? 'us-east-1',
      bucket: envStr(env, 'CATTY_S3_BUCKET') ?? s3f.bucket ?? 'catty',
      accessKeyId: envStr(env, 'CATTY_S3_ACCESS_KEY_ID') ?? s3f.accessKeyId ?? 'S3RVER',
      secretAccessKey: envStr(env, 'CATTY_S3_SECRET_ACCESS_KEY') ?? s3f.secretAccessKey ?? 'S3RVER',
      // MinIO-like servers need path-style; the embedded one too.
      forcePathStyle: envBool(env, 'CATTY_S3_FORCE_PATH_STYLE') ?? s3f.forcePathStyle ?? true,
    },
    maxSessionsPerUser: envInt(env, 'CATTY_MAX_SESSIONS_PER_USER') ?? file.maxSessionsPerUser ?? 25,
    defaultTtlSec: envInt(env, 'CATTY_DEFAULT_TTL_SEC') ?? file.defaultTtlSec ?? 2 * 3600,
    snapshotsKept: envInt(env, 'CATTY_SNAPSHOTS_KEPT') ?? file.snapshotsKept ?? 10,
    deviceCodeIntervalSec: envInt(env, 'CATTY_DEVICE_CODE_INTERVAL_SEC') ?? file.deviceCodeIntervalSec ?? 5,
    deviceCodeTtlSec: envInt(env, 'CATTY_DEVICE_CODE_TTL_SEC') ?? file.deviceCodeTtlSec ?? 600,
    accessTokenTtlSec: envInt(env, 'CATTY_ACCESS_TOKEN_TTL_SEC') ?? file.accessTokenTtlSec ?? 3600,
    refreshTokenTtlSec: envInt(env, 'CATTY_REFRESH_TOKEN_TTL_SEC') ?? file.refreshTokenTtlSec ?? 30 * 24 * 3600,
    sweepIntervalMs: envInt(env, 'CATTY_SWEEP_INTERVAL_MS') ?? file.sweepIntervalMs ?? 15_000,
    healthTimeoutMs: envInt(env, 'CATTY_HEALTH_TIMEOUT_MS') ?? file.healthTimeoutMs ?? 20_000,
    stopGraceMs: envInt(env, 'CATTY_STOP_GRACE_MS') ?? file.stopGraceMs ?? 20_000,
    runtimeEnv: parseRuntimeEnv(envStr(env, 'CATTY_RUNTIME_ENV')) ?? file.runtimeEnv ?? {},
    nodeTlsDir: envStr(env, 'CATTY_NODE_TLS_DIR') ?? file.nodeTlsDir ?? null,
    nodePort: parseNodePort(envInt(env, 'CATTY_NODE_PORT') ?? file.nodePort ?? 7443),
    logFile: envStr(env, 'CATTY_LOG_FILE') ?? file.logFile ?? null,
    logLevel: envStr(env, 'CATTY_LOG_LEVEL') ?? file.logLevel ?? 'info',
    trustedProxies: parseProxies(env, file),
  };
}

/** The precedence, for `--help`. */
export const CONFIG_HELP = `Configuration: flags > CATTY_* environment > config file (CATTY_CONFIG, JSON) > defaults.
  CATTY_API_LISTEN host:port (127.0.0.1:8787)   CATTY_PUBLIC_URL   CATTY_MACHINE_API_URL   CATTY_DATA_DIR (~/.catty/api)
  CATTY_PROVISIONER local|docker   CATTY_LOCAL_SANDBOX auto|bwrap|none   CATTY_LOCAL_NICE (10)   CATTY_LOCAL_SPARE (1)   CATTY_S3_ENDPOINT (none: embedded S3)   CATTY_S3_REGION
  CATTY_S3_BUCKET   CATTY_S3_ACCESS_KEY_ID   CATTY_S3_SECRET_ACCESS_KEY   CATTY_S3_FORCE_PATH_STYLE
  CATTY_MAX_SESSIONS_PER_USER (25)   CATTY_DEFAULT_TTL_SEC (7200)   CATTY_SNAPSHOTS_KEPT (10)
  CATTY_RUNTIME_ENV (JSON of CATTY_* knobs for every runtime)   CATTY_LOG_FILE   CATTY_LOG_LEVEL
  CATTY_NODE_TLS_DIR (cluster nodes: ca.pem, api.pem, api-key.pem)   CATTY_NODE_PORT (7443)
  CATTY_TRUSTED_PROXIES (the TLS front's IPs/CIDRs: X-Forwarded-For names the client; none)
  CATTY_MODE single|shared   CATTY_DATABASE_URL (none: SQLite)   CATTY_SECRET_KEY[_FILE]   CATTY_SECRET_KEY_PREVIOUS[_FILE]`;
