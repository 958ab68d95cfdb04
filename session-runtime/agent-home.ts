/**
 * The agent's home directory (outside the workspace), pre-seeded by the session's agent module
 * (wire/agent-*.ts) so it starts straight into the session — no onboarding, trust, update or
 * login dialog when its key is given — and where its conversations are kept for a resume.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { agentByName } from './wire/agents.js';
import type { RuntimeConfig } from './config.js';

/** Creates a fresh private home when none is configured. */
export async function ensureAgentHome(configured: string | null): Promise<string> {
  if (configured) {
    await fs.mkdir(configured, { recursive: true, mode: 0o700 });
    return configured;
  }
  return fs.mkdtemp(path.join(os.tmpdir(), 'catty-agent-home-'));
}

/**
 * Seeds the home for the session's agent. `env`: its environment as it will start (with a model
 * route, the placeholders: Claude Code approves the key it is given); `bridgeUrl`: the runtime's
 * egress bridge, which is the agent's model API when the proxy holds its credentials.
 */
export function seedAgentHome(config: Pick<RuntimeConfig, 'agent' | 'workspace' | 'modelRoute'>, home: string, env: Record<string, string>, bridgeUrl: string | null | undefined): Promise<void> {
  return agentByName(config.agent).seedHome({ home, workspace: config.workspace, env, modelBridgeUrl: config.modelRoute && bridgeUrl ? bridgeUrl : null });
}

/** Where the session's agent keeps the conversations a snapshot stores; null: nothing to keep. */
export function agentStateDir(config: Pick<RuntimeConfig, 'agent'>, home: string): string | null {
  const dir = agentByName(config.agent).stateDir;
  return dir ? path.join(home, dir) : null;
}
