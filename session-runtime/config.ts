/**
 * The runtime's configuration, read once from the environment (DESIGN.md "Fixed names") and
 * validated. Nothing else in session-runtime reads process.env.
 *
 * Every name it reads, with its default, is in RuntimeEnv (wire/runtime-env.ts).
 */
import os from 'node:os';
import path from 'node:path';
import * as z from './wire/zod.js';
import { DEFAULT_MAX_SYNC_FILE_BYTES } from './wire/protocol.js';
import { RuntimeEnv } from './wire/runtime-env.js';
import { AGENT_NAMES, DEFAULT_AGENT, agentByName, isAgentName, modelAgentOf, type AgentName } from './wire/agents.js';
import { placeholderVariable } from './wire/agent.js';
import { MAX_SOCKET_PATH_BYTES, parseListenAddress, type ListenAddress } from './wire/runtime-address.js';

export interface RuntimeConfig {
  workspace: string;
  /** Where the HTTP server listens: TCP, or a Unix socket (wire/runtime-address.ts). */
  listen: ListenAddress;
  connectToken: string;
  agentCmd: string[];
  /** Which agent's module (wire/agents.ts) seeds its home and names its model variables. */
  agent: AgentName;
  agentEnv: Record<string, string>;
  /** null: create a fresh private directory at start. */
  agentHome: string | null;
  api: { url: string; machineToken: string } | null;
  /** The socket the runtime's own requests leave the machine through; null: straight out. */
  callbackSocket: string | null;
  noUpload: boolean;
  maxUploadBytes: number;
  snapshotIntervalMs: number;
  exitLingerMs: number;
  heartbeatIntervalMs: number;
  apiHeartbeatIntervalMs: number;
  maxSyncFileBytes: number;
  storageTimeoutMs: number;
  /** The host's egress proxy (a Unix socket inside the machine); null: the agent gets no proxy. */
  egressSocket: string | null;
  /** CATTY_MODEL_ROUTE: the model credentials the proxy holds, which the agent gets placeholders
   * for; null: none (the agent's own environment has whatever the user sent). */
  modelRoute: ModelRoute | null;
}

/** The agent's side of the proxy's model route: the variables that get a placeholder, and the
 * one that gets the bridge's URL (null: the agent's home seeding points it there). */
export interface ModelRoute {
  variables: string[];
  baseUrlEnv: string | null;
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

export function parseListen(text: string): ListenAddress {
  const address = parseListenAddress(text);
  if (!address) throw new ConfigError(`${RuntimeEnv.listen} must be host:port or unix:/absolute/path (at most 107 bytes), got "${text}"`);
  return address;
}

export function loadConfig(env: NodeJS.ProcessEnv): RuntimeConfig {
  const connectToken = env[RuntimeEnv.connectToken];
  if (!connectToken) throw new ConfigError(`${RuntimeEnv.connectToken} is required`);
  const listen = parseListen(env[RuntimeEnv.listen] || '0.0.0.0:8080');
  const agent = agentOf(env);
  const agentCmdText = env[RuntimeEnv.agentCmd];
  const agentCmd = agentCmdText
    ? jsonOf(z.array(z.string()).check(z.minLength(1)), RuntimeEnv.agentCmd, agentCmdText)
    : agentByName(agent).command(true);
  const agentEnvText = env[RuntimeEnv.agentEnv];
  const agentEnv = agentEnvText ? jsonOf(z.record(z.string(), z.string()), RuntimeEnv.agentEnv, agentEnvText) : {};
  const apiUrl = env[RuntimeEnv.apiUrl];
  const machineToken = env[RuntimeEnv.machineToken];
  return {
    workspace: path.resolve(env[RuntimeEnv.workspace] || '/workspace'),
    listen,
    connectToken,
    agentCmd,
    agent,
    agentEnv,
    agentHome: env[RuntimeEnv.agentHome] ? path.resolve(env[RuntimeEnv.agentHome]!) : null,
    api: apiUrl && machineToken ? { url: apiUrl.replace(/\/+$/, ''), machineToken } : null,
    callbackSocket: env[RuntimeEnv.callbackSocket] || null,
    noUpload: env[RuntimeEnv.noUpload] === '1' || env[RuntimeEnv.noUpload] === 'true',
    maxUploadBytes: numberOf(env, RuntimeEnv.maxUploadBytes, 1024 ** 3),
    snapshotIntervalMs: numberOf(env, RuntimeEnv.snapshotIntervalMs, 30_000),
    exitLingerMs: numberOf(env, RuntimeEnv.exitLingerMs, 10 * 60_000),
    heartbeatIntervalMs: numberOf(env, RuntimeEnv.heartbeatIntervalMs, 15_000),
    apiHeartbeatIntervalMs: numberOf(env, RuntimeEnv.apiHeartbeatIntervalMs, 30_000),
    maxSyncFileBytes: numberOf(env, RuntimeEnv.maxSyncFileBytes, DEFAULT_MAX_SYNC_FILE_BYTES),
    storageTimeoutMs: numberOf(env, RuntimeEnv.storageTimeoutMs, 60_000),
    egressSocket: socketPathOf(env, RuntimeEnv.egressSocket),
    modelRoute: env[RuntimeEnv.modelRoute] ? modelRouteOf(agent, env[RuntimeEnv.modelRoute]!) : null,
  };
}

function agentOf(env: NodeJS.ProcessEnv): AgentName {
  const name = env[RuntimeEnv.agent] || DEFAULT_AGENT;
  if (!isAgentName(name)) throw new ConfigError(`${RuntimeEnv.agent} must be one of ${AGENT_NAMES.join(', ')}, got "${name}"`);
  return name;
}

/** Only the agent's own credential variables: no other name gets a placeholder. */
function modelRouteOf(agent: AgentName, text: string): ModelRoute {
  const model = agentByName(modelAgentOf(agent)).model;
  const allowed = model ? model.credentials.map(placeholderVariable) : [];
  const variables = jsonOf(z.array(z.string()), RuntimeEnv.modelRoute, text);
  const foreign = variables.find((name) => !allowed.includes(name));
  if (foreign !== undefined || !model) throw new ConfigError(`${RuntimeEnv.modelRoute} names ${foreign ?? 'a credential'}, which is not one of the ${agent} agent's (${allowed.join(', ') || 'none'})`);
  return { variables: [...new Set(variables)], baseUrlEnv: model.baseUrlEnv };
}

function socketPathOf(env: NodeJS.ProcessEnv, name: string): string | null {
  const value = env[name];
  if (value === undefined || value === '') return null;
  if (!path.isAbsolute(value) || value.includes('\0') || Buffer.byteLength(value) > MAX_SOCKET_PATH_BYTES) {
    throw new ConfigError(`${name} must be the absolute path of a Unix socket (at most ${MAX_SOCKET_PATH_BYTES} bytes)`);
  }
  return value;
}

/** A private directory outside the workspace for temp files (upload spool, snapshots). */
export function tempRoot(): string {
  return os.tmpdir();
}
