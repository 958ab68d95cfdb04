/**
 * What a session's egress holds besides its policy (issue 20, item 5): the credentials the proxy
 * adds on the way out, so the machine never holds them. Plain data (the host-side process gets
 * it over its control socket, as JSON); kept in memory only, never written to disk or a log.
 */
import type { AgentName } from '../../session-runtime/wire/agents.js';

/** The model API's credentials: the agent talks to the runtime's bridge with a placeholder key;
 * the proxy sends the request on to `baseUrl` (default: its agent's API, e.g.
 * https://api.anthropic.com) with one of these in the header its agent's module names
 * (wire/agent-*.ts) — for Claude, `x-api-key` for an API key, `Authorization: Bearer` for an
 * OAuth or gateway token; for Codex `Authorization: Bearer`; for Gemini `x-goog-api-key`. */
export interface ModelCredentials {
  /** Whose API (absent: Claude Code's, as before there were several agents). */
  agent?: AgentName;
  apiKey?: string;
  /** CLAUDE_CODE_OAUTH_TOKEN (`claude setup-token`). */
  oauthToken?: string;
  /** ANTHROPIC_AUTH_TOKEN: a gateway's bearer token. */
  authToken?: string;
  /** The user's own gateway (`ANTHROPIC_BASE_URL` secret); `http:` only to a loopback address. */
  baseUrl?: string;
}

/** `catty secrets set NAME --inject HOST [--header NAME]`: requests to host:port get the header
 * (default `Authorization: Bearer <value>`), added by the proxy, which ends TLS for that host with
 * the session's own CA. */
export interface InjectRule {
  /** Normalised host name (lowercase, no trailing dot) or IP. */
  host: string;
  /** Default 443. */
  port: number;
  /** Header name, e.g. `authorization` or `x-api-key`. */
  header: string;
  /** The header's full value, e.g. `Bearer sk-…`. */
  value: string;
}

export interface SessionCredentials {
  model?: ModelCredentials;
  inject: InjectRule[];
}

export const NO_CREDENTIALS: SessionCredentials = Object.freeze({ inject: [] as InjectRule[] }) as SessionCredentials;

/** Whether the session has a model route at all (a key, a token, or a gateway of its own). */
export function hasModelRoute(model: ModelCredentials | undefined): model is ModelCredentials {
  return Boolean(model && (model.apiKey || model.oauthToken || model.authToken || model.baseUrl));
}
