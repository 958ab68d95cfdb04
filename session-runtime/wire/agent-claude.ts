/**
 * Claude Code (`@anthropic-ai/claude-code`). Its home is pre-seeded so it starts straight into
 * the session: onboarding done, the workspace trusted, bypass-permissions mode accepted, and the
 * API key in its environment (the proxy's placeholder, with a model route) approved — Claude Code
 * records an approved key by its last 20 characters.
 */
import path from 'node:path';
import type { AgentDefinition, AgentHomeContext } from './agent.js';
import { asObject, mergeJson } from './agent-files.js';

export const CLAUDE_COMMAND = ['claude', '--dangerously-skip-permissions'] as const;

export const claude: AgentDefinition = {
  name: 'claude',
  title: 'Claude Code',
  command: () => [...CLAUDE_COMMAND],
  continueCommand: (command) => [...command, '--continue'],
  // Its transcripts: what `claude --continue` reads.
  stateDir: '.claude/projects',
  model: {
    defaultUrl: 'https://api.anthropic.com',
    baseUrlSecret: 'ANTHROPIC_BASE_URL',
    baseUrlEnv: 'ANTHROPIC_BASE_URL',
    credentials: [
      { secret: 'ANTHROPIC_API_KEY', slot: 'apiKey', header: 'x-api-key', bearer: false },
      // A gateway's bearer token before a `claude setup-token` one, as Claude Code itself prefers.
      { secret: 'ANTHROPIC_AUTH_TOKEN', slot: 'authToken', header: 'authorization', bearer: true },
      { secret: 'CLAUDE_CODE_OAUTH_TOKEN', slot: 'oauthToken', header: 'authorization', bearer: true },
    ],
    hosts: ['api.anthropic.com'],
    otherSignIns: ['CLAUDE_CODE_USE_BEDROCK', 'CLAUDE_CODE_USE_VERTEX'],
  },
  seedHome: seedClaudeHome,
};

/** Merges catty's settings into `~/.claude.json` and `~/.claude/settings.json`, keeping the rest. */
export async function seedClaudeHome({ home, workspace, env }: AgentHomeContext): Promise<void> {
  await mergeJson(path.join(home, '.claude.json'), (config) => {
    config.hasCompletedOnboarding = true;
    config.bypassPermissionsModeAccepted = true;
    const projects = asObject(config.projects);
    projects[workspace] = { ...asObject(projects[workspace]), hasTrustDialogAccepted: true, hasCompletedProjectOnboarding: true };
    config.projects = projects;
    const apiKey = env.ANTHROPIC_API_KEY;
    if (apiKey) {
      const responses = asObject(config.customApiKeyResponses);
      const approved = Array.isArray(responses.approved) ? responses.approved.filter((v) => typeof v === 'string') : [];
      const suffix = apiKey.slice(-20);
      if (!approved.includes(suffix)) approved.push(suffix);
      config.customApiKeyResponses = { approved, rejected: Array.isArray(responses.rejected) ? responses.rejected : [] };
    }
  });
  await mergeJson(path.join(home, '.claude', 'settings.json'), (settings) => {
    settings.permissions = { ...asObject(settings.permissions), defaultMode: 'bypassPermissions' };
    // Claude Code 2.x records "bypass-permissions dialog accepted" here (1.x: bypassPermissionsModeAccepted above).
    settings.skipDangerousModePermissionPrompt = true;
  });
}
