/**
 * The runtime's configuration, read once from the environment (DESIGN.md "Fixed names") and
 * validated. Nothing else in session-runtime reads process.env.
 *
 * Fixed names (see RuntimeEnv in protocol.ts):
 *   CATTY_WORKSPACE       workspace directory (default /workspace)
 *   CATTY_LISTEN          host:port (default 0.0.0.0:8080; port 0 picks a free one)
 *   CATTY_CONNECT_TOKEN   bearer token for upload/connect/logs (required)
 *   CATTY_AGENT_CMD       JSON argv (default ["claude","--dangerously-skip-permissions"])
 *   CATTY_AGENT_ENV       JSON object of extra variables for the agent only (secrets, settings)
 *   CATTY_AGENT_HOME      the agent's HOME (default: a fresh private dir outside the workspace)
 *   CATTY_API_URL + CATTY_MACHINE_TOKEN   callbacks (snapshots, heartbeat, logs, exit)
 * Extra knobs (mostly for tests):
 *   CATTY_NO_UPLOAD=1               start the agent at once; no upload is expected (`--no-upload`)
 *   CATTY_MAX_UPLOAD_BYTES          cap on uncompressed upload bytes (default 1 GiB); the body
 *                                   cap is the same number (a zip is never much bigger than its content)
 *   CATTY_SNAPSHOT_INTERVAL_MS      snapshot period (default 30 s); the first one comes after a
 *                                   third of it (~10 s)
 *   CATTY_EXIT_LINGER_MS            how long to keep serving after the agent exited (default 10 min)
 *   CATTY_HEARTBEAT_INTERVAL_MS     WebSocket ping period (default 15 s); a peer silent for two
 *                                   periods is dropped
 *   CATTY_API_HEARTBEAT_INTERVAL_MS API heartbeat callback period (default 30 s)
 *   CATTY_MAX_SYNC_FILE_BYTES       files above this are announced as skipped (default 50 MiB)
 *   CATTY_STORAGE_TIMEOUT_MS        a snapshot PUT with no traffic for this long is abandoned and
 *                                   retried (default 60 s)
 */
import os from 'node:os';
import path from 'node:path';
import * as z from './zod.js';
import { DEFAULT_MAX_SYNC_FILE_BYTES, RuntimeEnv } from './protocol.js';

export interface RuntimeConfig {
  workspace: string;
  host: string;
  port: number;
  connectToken: string;
  agentCmd: string[];
  agentEnv: Record<string, string>;
  /** null: create a fresh private directory at start. */
  agentHome: string | null;
  api: { url: string; machineToken: string } | null;
  noUpload: boolean;
  maxUploadBytes: number;
  snapshotIntervalMs: number;
  exitLingerMs: number;
  heartbeatIntervalMs: number;
  apiHeartbeatIntervalMs: number;
  maxSyncFileBytes: number;
  storageTimeoutMs: number;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

const positiveInt = z.coerce.number().check(z.int(), z.positive());

function jsonOf<T>(schema: z.ZodMiniType<T>, name: string, text: string): T {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ConfigError(`${name} is not valid JSON`);
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new ConfigError(`${name} has the wrong shape: ${parsed.error.issues[0]?.message ?? ''}`);
  return parsed.data;
}

function numberOf(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const parsed = positiveInt.safeParse(raw);
  if (!parsed.success) throw new ConfigError(`${name} must be a positive integer`);
  return parsed.data;
}

export function parseListen(text: string): { host: string; port: number } {
  const match = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(text);
  const port = Number(match?.[2]);
  if (!match || port > 65535) throw new ConfigError(`${RuntimeEnv.listen} must be host:port, got "${text}"`);
  return { host: match[1]!.replace(/^\[|\]$/g, ''), port };
}

export function loadConfig(env: NodeJS.ProcessEnv): RuntimeConfig {
  const connectToken = env[RuntimeEnv.connectToken];
  if (!connectToken) throw new ConfigError(`${RuntimeEnv.connectToken} is required`);
  const { host, port } = parseListen(env[RuntimeEnv.listen] || '0.0.0.0:8080');
  const agentCmdText = env[RuntimeEnv.agentCmd];
  const agentCmd = agentCmdText
    ? jsonOf(z.array(z.string()).check(z.minLength(1)), RuntimeEnv.agentCmd, agentCmdText)
    : ['claude', '--dangerously-skip-permissions'];
  const agentEnvText = env[RuntimeEnv.agentEnv];
  const agentEnv = agentEnvText ? jsonOf(z.record(z.string(), z.string()), RuntimeEnv.agentEnv, agentEnvText) : {};
  const apiUrl = env[RuntimeEnv.apiUrl];
  const machineToken = env[RuntimeEnv.machineToken];
  return {
    workspace: path.resolve(env[RuntimeEnv.workspace] || '/workspace'),
    host,
    port,
    connectToken,
    agentCmd,
    agentEnv,
    agentHome: env[RuntimeEnv.agentHome] ? path.resolve(env[RuntimeEnv.agentHome]!) : null,
    api: apiUrl && machineToken ? { url: apiUrl.replace(/\/+$/, ''), machineToken } : null,
    noUpload: env.CATTY_NO_UPLOAD === '1' || env.CATTY_NO_UPLOAD === 'true',
    maxUploadBytes: numberOf(env, RuntimeEnv.maxUploadBytes, 1024 ** 3),
    snapshotIntervalMs: numberOf(env, RuntimeEnv.snapshotIntervalMs, 30_000),
    exitLingerMs: numberOf(env, 'CATTY_EXIT_LINGER_MS', 10 * 60_000),
    heartbeatIntervalMs: numberOf(env, 'CATTY_HEARTBEAT_INTERVAL_MS', 15_000),
    apiHeartbeatIntervalMs: numberOf(env, 'CATTY_API_HEARTBEAT_INTERVAL_MS', 30_000),
    maxSyncFileBytes: numberOf(env, 'CATTY_MAX_SYNC_FILE_BYTES', DEFAULT_MAX_SYNC_FILE_BYTES),
    storageTimeoutMs: numberOf(env, 'CATTY_STORAGE_TIMEOUT_MS', 60_000),
  };
}

/** A private directory outside the workspace for temp files (upload spool, snapshots). */
export function tempRoot(): string {
  return os.tmpdir();
}
