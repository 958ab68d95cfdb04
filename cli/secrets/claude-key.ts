/**
 * A word before a Claude session starts without a credential: Claude Code would open at "Not
 * logged in · Please run /login" with nothing on our side saying why. A warning, not a refusal
 * (the user may log in inside the session); only for the agent itself, not `--agent shell` or
 * `--cmd`, where Claude Code is not what runs.
 */
import type { Context } from '../context.js';
import { SecretStore, defaultSecretStoreOptions } from './store.js';

/** Environment variables Claude Code signs in with (an API key, a `claude setup-token` OAuth
 * token, a gateway's bearer token, or a cloud provider's own credentials). */
export const CLAUDE_CREDENTIALS: readonly string[] = ['ANTHROPIC_API_KEY', 'CLAUDE_CODE_OAUTH_TOKEN', 'ANTHROPIC_AUTH_TOKEN', 'CLAUDE_CODE_USE_BEDROCK', 'CLAUDE_CODE_USE_VERTEX'];

export interface AgentChoice {
  agent: string;
  cmd?: string;
  /** false with --no-secrets: none is sent, whatever is stored. */
  secrets: boolean;
}

/** `sent`: the names of the secrets this session gets. */
export function warnIfClaudeHasNoKey(ctx: Context, choice: AgentChoice, sent: readonly string[]): void {
  if (choice.agent !== 'claude' || choice.cmd) return;
  if (sent.some((name) => CLAUDE_CREDENTIALS.includes(name))) return;
  const kept = choice.secrets ? undefined : storedNames(ctx).find((name) => CLAUDE_CREDENTIALS.includes(name));
  if (kept) {
    ctx.stderr.write(`catty: warning: with --no-secrets your ${kept} secret is not sent: Claude Code will start not logged in.\n`);
    return;
  }
  ctx.stderr.write('catty: warning: no ANTHROPIC_API_KEY secret: Claude Code will start not logged in.\n');
  ctx.stderr.write('  Set one first: catty secrets set ANTHROPIC_API_KEY   (or CLAUDE_CODE_OAUTH_TOKEN, from `claude setup-token`)\n');
}

/** Names only: nothing is decrypted; an unreadable store is another command's error to report. */
function storedNames(ctx: Context): string[] {
  try {
    return new SecretStore(defaultSecretStoreOptions(ctx)).names();
  } catch {
    return [];
  }
}
