/**
 * OpenAI Codex (`@openai/codex`, a native binary). Codex 0.171 reads no base-URL variable (it
 * ignores OPENAI_BASE_URL): its endpoint is config.toml's, so the home seeding writes a model
 * provider of its own — the runtime's bridge (or, without the egress proxy, the user's
 * OPENAI_BASE_URL) as `base_url`, the key from OPENAI_API_KEY, WebSockets off (the model route
 * relays plain HTTP; Codex would try five upgrades before falling back) — and trusts the
 * workspace, with no update check, no analytics and no background app-server (by default the
 * TUI copies its ~850 MB of binaries into ~/.codex/packages and leaves that daemon running).
 * Without a key it keeps Codex's own provider, whose sign-in screen is then the right thing to show.
 */
import path from 'node:path';
import type { AgentDefinition, AgentHomeContext } from './agent.js';
import { writePrivate } from './agent-files.js';

const YOLO = '--dangerously-bypass-approvals-and-sandbox';
const OPENAI_URL = 'https://api.openai.com/v1';

export const codex: AgentDefinition = {
  name: 'codex',
  title: 'Codex',
  // Codex's own sandbox is off: the session's machine is the sandbox.
  command: () => ['codex', YOLO],
  continueCommand: ([program]) => [program ?? 'codex', 'resume', '--last', YOLO],
  // Its rollouts: what `codex resume --last` reads.
  stateDir: '.codex/sessions',
  model: {
    defaultUrl: OPENAI_URL,
    baseUrlSecret: 'OPENAI_BASE_URL',
    baseUrlEnv: null,
    credentials: [{ secret: 'OPENAI_API_KEY', slot: 'apiKey', header: 'authorization', bearer: true }],
    hosts: ['api.openai.com'],
    otherSignIns: ['CODEX_API_KEY'],
  },
  seedHome: seedCodexHome,
};

/** A TOML basic string (JSON's escapes are TOML's). */
const toml = (value: string): string => JSON.stringify(value);

/** `~/.codex/config.toml`, written at each start of the machine (its home is fresh). */
export function codexConfig({ workspace, env, modelBridgeUrl }: Omit<AgentHomeContext, 'home'>): string {
  const lines = ['# Written by catty when the session started (session-runtime/wire/agent-codex.ts).', 'check_for_update_on_startup = false'];
  const keyed = Boolean(env.OPENAI_API_KEY);
  if (keyed) lines.push('model_provider = "catty"');
  lines.push('', '[analytics]', 'enabled = false', '', '[features]', 'daemon_auto_start = false');
  if (keyed) {
    lines.push(
      '',
      '[model_providers.catty]',
      'name = "OpenAI"',
      `base_url = ${toml(modelBridgeUrl ?? env.OPENAI_BASE_URL ?? OPENAI_URL)}`,
      'env_key = "OPENAI_API_KEY"',
      'wire_api = "responses"',
      'supports_websockets = false',
    );
  }
  lines.push('', `[projects.${toml(workspace)}]`, 'trust_level = "trusted"');
  return lines.join('\n') + '\n';
}

export async function seedCodexHome(context: AgentHomeContext): Promise<void> {
  await writePrivate(path.join(context.home, '.codex', 'config.toml'), codexConfig(context));
}
