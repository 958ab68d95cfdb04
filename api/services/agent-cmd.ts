/** The agent's argv (CATTY_AGENT_CMD) for a create request, and for a session started again. */
import { existsSync } from 'node:fs';
import { agentByName, type AgentName } from '../../session-runtime/wire/agents.js';

export { CLAUDE_COMMAND as CLAUDE_CMD } from '../../session-runtime/wire/agent-claude.js';

const hasBashHere = (): boolean => existsSync('/bin/bash') || existsSync('/usr/bin/bash');

/** `cmd` (`catty new --cmd`) runs instead of the agent, under `sh -c`. */
export function agentCommand(agent: AgentName, cmd: string | undefined, hasBash: () => boolean = hasBashHere): string[] {
  if (cmd !== undefined) return ['sh', '-c', cmd];
  return agentByName(agent).command(hasBash());
}

/**
 * The command a session starts again with (resume, fork): its own, continuing the agent's
 * newest conversation when the snapshot brought its state back (without one, Claude Code's
 * `--continue` would only stop it) — never for `--cmd`, which is not the agent.
 */
export function restartCommand(agent: AgentName, cmd: string | null, stateCameBack: boolean): string[] {
  const command = agentCommand(agent, cmd ?? undefined);
  const continued = agentByName(agent).continueCommand;
  return continued && cmd === null && stateCameBack ? continued(command) : command;
}
