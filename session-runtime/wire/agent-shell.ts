/**
 * A login shell (`catty new --agent shell`): no model of its own, nothing to continue. The user
 * may run `claude` in it, so its home is seeded for Claude Code and Claude's keys stay with the
 * proxy (agents.ts modelAgentOf), as before there were several agents.
 */
import type { AgentDefinition } from './agent.js';
import { seedClaudeHome } from './agent-claude.js';

export const shell: AgentDefinition = {
  name: 'shell',
  title: 'a login shell',
  command: (hasBash) => (hasBash ? ['bash', '-l'] : ['sh', '-l']),
  continueCommand: null,
  stateDir: null,
  model: null,
  seedHome: seedClaudeHome,
};
