/**
 * The one small interface behind which each agent catty can run lives (issue 25): its command
 * (with its skip-permissions mode), how it continues a conversation on resume, which of its
 * state a snapshot keeps, its model API — the secrets the egress proxy holds for it, the header
 * each goes in, the hosts, the base-URL override — and the pre-seeding of its home, which the
 * runtime runs inside the machine. One file per agent (agent-claude.ts, agent-codex.ts, …), listed
 * in agents.ts; the API, the runtime, catty-node and the CLI all read them from here.
 */

/** A slot of the egress proxy's ModelCredentials (api/egress/credentials.ts): the proxy keeps
 * the value there and sends it in the header the agent's module names for it. */
export type ModelCredentialSlot = 'apiKey' | 'authToken' | 'oauthToken';

/** One secret the egress proxy holds for the agent instead of its machine. */
export interface ModelCredential {
  /** The secret's name (`catty secrets set NAME`). */
  secret: string;
  slot: ModelCredentialSlot;
  /** Lower-case header name the real value goes in. */
  header: string;
  /** Sent as `Bearer <value>`. */
  bearer: boolean;
  /** The variable the agent finds the placeholder in (default: the secret's own name). */
  placeholderIn?: string;
}

/** The agent's model API as the egress proxy's model route serves it. */
export interface AgentModelApi {
  /** Where calls go without the base-URL secret; each request's path is appended. */
  defaultUrl: string;
  /** The secret naming the user's own gateway (held by the proxy, like the keys). */
  baseUrlSecret: string;
  /** The variable the agent reads its base URL from, set to the runtime's bridge; null: the
   * agent has none, its home seeding points it at the bridge instead. */
  baseUrlEnv: string | null;
  /** In order of preference when the request's own header says nothing (the first that the
   * session has is sent). */
  credentials: readonly ModelCredential[];
  /** Its API's hosts (all in the `trusted` preset). */
  hosts: readonly string[];
  /** Other secrets that sign the agent in by themselves (a cloud provider's), for the CLI's
   * missing-key hint. */
  otherSignIns: readonly string[];
}

/** What home seeding knows, inside the machine. */
export interface AgentHomeContext {
  home: string;
  workspace: string;
  /** The agent's environment as it starts (placeholders in place of held credentials). */
  env: Readonly<Record<string, string>>;
  /** The runtime's bridge when the egress proxy holds the model credentials; null otherwise. */
  modelBridgeUrl: string | null;
}

export interface AgentDefinition {
  /** `catty new --agent NAME`. */
  name: string;
  /** For people: "Claude Code". */
  title: string;
  /** Its argv, skip-permissions mode included; `hasBash` for a shell. */
  command(hasBash: boolean): string[];
  /** The argv that continues its newest conversation when a snapshot brought its state back;
   * null: it starts afresh. */
  continueCommand: ((command: readonly string[]) => string[]) | null;
  /** Its conversations, relative to its home: stored beside each snapshot (never credentials or
   * settings); null: nothing. */
  stateDir: string | null;
  /** null: no model API (a shell). */
  model: AgentModelApi | null;
  /** Pre-seeds its configuration so it opens at its prompt, no dialog in the way. */
  seedHome(context: AgentHomeContext): Promise<void>;
}

/** The secret names a placeholder is given for, by variable: what CATTY_MODEL_ROUTE may hold. */
export function placeholderVariable(credential: ModelCredential): string {
  return credential.placeholderIn ?? credential.secret;
}
