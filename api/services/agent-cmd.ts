/** The agent's argv (CATTY_AGENT_CMD) for a create request. */
import { existsSync } from 'node:fs';

export const CLAUDE_CMD = ['claude', '--dangerously-skip-permissions'];

export function agentCommand(agent: 'claude' | 'shell', cmd: string | undefined, hasBash: () => boolean = () => existsSync('/bin/bash') || existsSync('/usr/bin/bash')): string[] {
  if (cmd !== undefined) return ['sh', '-c', cmd];
  switch (agent) {
    case 'claude':
      return [...CLAUDE_CMD];
    case 'shell':
      return hasBash() ? ['bash', '-l'] : ['sh', '-l'];
    default: {
      const never: never = agent;
      throw new Error(`unknown agent ${String(never)}`);
    }
  }
}
