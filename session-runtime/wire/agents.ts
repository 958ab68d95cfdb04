/**
 * Every agent `catty new --agent` can start, by name (issue 25). Adding one is a file beside
 * these (agent-<name>.ts, an AgentDefinition) and its line here.
 */
import type { AgentDefinition } from './agent.js';
import { claude } from './agent-claude.js';
import { codex } from './agent-codex.js';
import { gemini } from './agent-gemini.js';
import { shell } from './agent-shell.js';

export const AGENT_NAMES = ['claude', 'codex', 'gemini', 'shell'] as const;
export type AgentName = (typeof AGENT_NAMES)[number];
export const DEFAULT_AGENT: AgentName = 'claude';

const AGENTS: Record<AgentName, AgentDefinition> = { claude, codex, gemini, shell };

export function isAgentName(name: string): name is AgentName {
  return (AGENT_NAMES as readonly string[]).includes(name);
}

export function agentByName(name: AgentName): AgentDefinition {
  return AGENTS[name];
}

/** "claude, codex, gemini or shell". */
export function agentList(): string {
  return `${AGENT_NAMES.slice(0, -1).join(', ')} or ${AGENT_NAMES.at(-1)}`;
}

/** Every variable a placeholder may be given in (CATTY_MODEL_ROUTE), all agents together. */
export const PLACEHOLDER_VARIABLES: readonly string[] = [
  ...new Set(AGENT_NAMES.flatMap((name) => AGENTS[name].model?.credentials.map((c) => c.placeholderIn ?? c.secret) ?? [])),
];

/** The agent whose model API a session's model route serves: its own, or Claude Code's for an
 * agent without one (a shell, in which the user may run `claude`: its key stays out as before). */
export function modelAgentOf(name: AgentName): AgentName {
  return AGENTS[name].model ? name : DEFAULT_AGENT;
}
