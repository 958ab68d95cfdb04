/** `--agent` of `catty new` and `catty fork`: one of the agents the seam lists (wire/agents.ts). */
import { ExitCode } from '../errors.js';
import { UserError } from '../../session-runtime/wire/errors.js';
import { AGENT_NAMES, agentByName, agentList, isAgentName, type AgentName } from '../../session-runtime/wire/agents.js';

/** "claude (Claude Code), codex (Codex), gemini (Gemini CLI) or shell (a login shell)". */
export function agentHelp(): string {
  const each = AGENT_NAMES.map((name) => `${name} (${agentByName(name).title})`);
  return `the agent: ${each.slice(0, -1).join(', ')} or ${each.at(-1)}`;
}

export function parseAgent(value: string): AgentName {
  if (!isAgentName(value)) throw new UserError(`--agent must be ${agentList()}, not "${value}"`, { exitCode: ExitCode.usage });
  return value;
}
