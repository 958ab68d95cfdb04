/**
 * A word before an agent's session starts without its credential: Claude Code would open at "Not
 * logged in · Please run /login", Codex and Gemini CLI at their sign-in screens, with nothing on
 * our side saying why. A warning, not a refusal (the user may sign in inside the session); only
 * for the agent itself, not `--agent shell` or `--cmd`, where no agent of ours is what runs. The
 * secrets each agent signs in with are its module's (session-runtime/wire/agent-*.ts).
 */
import type { Context } from '../context.js';
import { SecretStore, defaultSecretStoreOptions } from './store.js';
import { agentByName, isAgentName } from '../../session-runtime/wire/agents.js';
import type { AgentModelApi } from '../../session-runtime/wire/agent.js';

/** The secrets an agent's module signs it in with: its model keys, then a cloud provider's own. */
export function signInSecrets(api: AgentModelApi): string[] {
  return [...api.credentials.map((c) => c.secret), ...api.otherSignIns];
}

/** Environment variables Claude Code signs in with (an API key, a `claude setup-token` OAuth
 * token, a gateway's bearer token, or a cloud provider's own credentials). */
export const CLAUDE_CREDENTIALS: readonly string[] = signInSecrets(agentByName('claude').model!);

/** What to set, after the first key's name: Claude's OAuth token comes from `claude setup-token`. */
const ALTERNATIVES: Record<string, string> = {
  claude: '(or CLAUDE_CODE_OAUTH_TOKEN, from `claude setup-token`)',
  gemini: '(or GOOGLE_API_KEY)',
};

export interface AgentChoice {
  agent: string;
  cmd?: string;
  /** false with --no-secrets: none is sent, whatever is stored. */
  secrets: boolean;
}

/** `sent`: the names of the secrets this session gets. */
export function warnIfAgentHasNoKey(ctx: Context, choice: AgentChoice, sent: readonly string[]): void {
  if (choice.cmd || !isAgentName(choice.agent)) return;
  const { title, model } = agentByName(choice.agent);
  if (!model) return;
  const names = signInSecrets(model);
  if (sent.some((name) => names.includes(name))) return;
  const kept = choice.secrets ? undefined : storedNames(ctx).find((name) => names.includes(name));
  if (kept) {
    ctx.stderr.write(`catty: warning: with --no-secrets your ${kept} secret is not sent: ${title} will start not logged in.\n`);
    return;
  }
  const key = model.credentials[0]!.secret;
  const more = ALTERNATIVES[choice.agent];
  ctx.stderr.write(`catty: warning: no ${key} secret: ${title} will start not logged in.\n`);
  ctx.stderr.write(`  Set one first: catty secrets set ${key}${more ? `   ${more}` : ''}\n`);
}

/** The name it had when Claude Code was the only agent (cli/sessions/restart.ts calls it). */
export const warnIfClaudeHasNoKey = warnIfAgentHasNoKey;

/** Names only: nothing is decrypted; an unreadable store is another command's error to report. */
function storedNames(ctx: Context): string[] {
  try {
    return new SecretStore(defaultSecretStoreOptions(ctx)).names();
  } catch {
    return [];
  }
}
