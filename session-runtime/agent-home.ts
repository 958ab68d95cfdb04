/**
 * Prepares the agent's home directory (outside the workspace) and pre-seeds Claude Code's
 * configuration so it starts straight into the session: onboarding done, the workspace trusted,
 * bypass-permissions mode accepted, and the API key from the agent environment approved
 * (Claude Code records an approved key by its last 20 characters).
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

/** Creates a fresh private home when none is configured. */
export async function ensureAgentHome(configured: string | null): Promise<string> {
  if (configured) {
    await fs.mkdir(configured, { recursive: true, mode: 0o700 });
    return configured;
  }
  return fs.mkdtemp(path.join(os.tmpdir(), 'catty-agent-home-'));
}

async function readJsonObject(file: string): Promise<Record<string, unknown>> {
  try {
    const value: unknown = JSON.parse(await fs.readFile(file, 'utf8'));
    return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

function asObject(value: unknown): Record<string, unknown> {
  return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

/** Merges catty's settings into `~/.claude.json` and `~/.claude/settings.json`, keeping the rest. */
export async function seedClaudeConfig(home: string, workspace: string, agentEnv: Record<string, string>): Promise<void> {
  const configFile = path.join(home, '.claude.json');
  const config = await readJsonObject(configFile);
  config.hasCompletedOnboarding = true;
  config.bypassPermissionsModeAccepted = true;
  const projects = asObject(config.projects);
  projects[workspace] = { ...asObject(projects[workspace]), hasTrustDialogAccepted: true, hasCompletedProjectOnboarding: true };
  config.projects = projects;
  const apiKey = agentEnv.ANTHROPIC_API_KEY;
  if (apiKey) {
    const responses = asObject(config.customApiKeyResponses);
    const approved = Array.isArray(responses.approved) ? responses.approved.filter((v) => typeof v === 'string') : [];
    const suffix = apiKey.slice(-20);
    if (!approved.includes(suffix)) approved.push(suffix);
    config.customApiKeyResponses = { approved, rejected: Array.isArray(responses.rejected) ? responses.rejected : [] };
  }
  await fs.writeFile(configFile, JSON.stringify(config, null, 2) + '\n', { mode: 0o600 });

  const settingsDir = path.join(home, '.claude');
  await fs.mkdir(settingsDir, { recursive: true, mode: 0o700 });
  const settingsFile = path.join(settingsDir, 'settings.json');
  const settings = await readJsonObject(settingsFile);
  settings.permissions = { ...asObject(settings.permissions), defaultMode: 'bypassPermissions' };
  // Claude Code 2.x records "bypass-permissions dialog accepted" here (1.x: bypassPermissionsModeAccepted above).
  settings.skipDangerousModePermissionPrompt = true;
  await fs.writeFile(settingsFile, JSON.stringify(settings, null, 2) + '\n', { mode: 0o600 });
}
