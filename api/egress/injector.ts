/**
 * What the proxy adds to a session's requests, and where (issue 20, item 5; SECURITY.md 42, 43).
 * Headers can be added only on requests the proxy ends itself, so there are two paths:
 *
 * - The model route (model-route.ts): a request in origin-form (`POST /v1/messages`), which is
 *   what arrives when the agent's base URL (ANTHROPIC_BASE_URL, Codex's provider `base_url`,
 *   GOOGLE_GEMINI_BASE_URL) names the runtime's bridge (the client takes the bridge for the
 *   server, not a proxy). It goes to the session's model upstream — its agent's API
 *   (api.anthropic.com, api.openai.com, generativelanguage.googleapis.com), or the user's own
 *   base URL — with the client's credential headers (`x-api-key`, `Authorization`,
 *   `x-goog-api-key`) replaced by the real credential, in its agent's header. The route is the session's own model: it is
 *   open under every `--net` policy when the session has model credentials (the agent could not
 *   work otherwise), and closed (an error naming why) when it has none.
 * - `--inject` (intercept.ts): a CONNECT to an inject rule's host:port, once the policy allowed
 *   it, is ended by the proxy with a certificate of the session's own CA (session-ca.ts: the
 *   machine trusts its certificate, its key stays here); each HTTP/1.1 request inside gets the
 *   rule's header and goes on over TLS verified for that host.
 *
 * On both: TLS to the upstream, verified for its name (plain HTTP only when every address of the
 * model upstream is loopback: a local gateway, the tests' scripted model); one upstream
 * connection per request, to that host only; the Host header is the upstream's; nothing follows
 * redirects — an added header reaches that upstream and no other.
 */
import { normaliseHost } from '../../session-runtime/wire/host-name.js';
import { classifyIp } from '../../session-runtime/wire/ip-address.js';
import { agentByName, DEFAULT_AGENT } from '../../session-runtime/wire/agents.js';
import type { InjectRule, ModelCredentials } from './credentials.js';

export const DEFAULT_MODEL_URL = 'https://api.anthropic.com';

/** Where the model route sends requests: the path of each request is appended to `pathPrefix`. */
export interface ModelUpstream {
  host: string;
  port: number;
  tls: boolean;
  /** The base URL's path without its trailing slash ('' for the root). */
  pathPrefix: string;
}

/** The model upstream a base URL names (default `defaultUrl`, its agent's API), or why it cannot
 * be one; `name` is the secret it came from, for the message. */
export function parseModelUpstream(baseUrl: string | undefined, defaultUrl = DEFAULT_MODEL_URL, name = 'ANTHROPIC_BASE_URL'): ModelUpstream | { problem: string } {
  let url: URL;
  try {
    url = new URL(baseUrl || defaultUrl);
  } catch {
    return { problem: `${name} is not a URL` };
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return { problem: `${name} must be an https:// (or, to a loopback address, http://) URL` };
  if (url.username || url.password) return { problem: `${name} must not hold a user name or password` };
  if (url.search || url.hash) return { problem: `${name} must not have a query or fragment` };
  const host = normaliseHost(url.hostname.replace(/^\[(.*)\]$/, '$1'));
  if ('problem' in host) return { problem: `${name}'s host is malformed: ${host.problem}` };
  const tls = url.protocol === 'https:';
  return { host: host.host, port: url.port ? Number(url.port) : tls ? 443 : 80, tls, pathPrefix: url.pathname.replace(/\/+$/, '') };
}

/** Plain HTTP carries the model credential only to an upstream every address of which is loopback. */
export function plainModelAllowed(addresses: readonly string[]): boolean {
  return addresses.length > 0 && addresses.every((a) => classifyIp(a) === 'loopback');
}

/** The client headers the model route never passes on, whichever the agent: the real credential
 * replaces them (a placeholder in any of them goes nowhere). */
export const MODEL_AUTH_HEADERS = ['x-api-key', 'authorization', 'x-goog-api-key'] as const;

/** The agent's model API the session's credentials are for. */
export function modelApiOf(model: ModelCredentials) {
  return agentByName(model.agent ?? DEFAULT_AGENT).model!;
}

/**
 * The credential header for a model request, in the session's agent's header for it: of the
 * kind the client used (its placeholder's; `Authorization` first) when the session has one of
 * that kind, else the first the session has in the agent's order (Claude: an API key before a
 * token).
 */
export function modelAuthHeaders(model: ModelCredentials, sent: ReadonlySet<string>): Record<string, string> {
  const held = modelApiOf(model).credentials.filter((c) => model[c.slot] !== undefined);
  const pick = ['authorization', ...MODEL_AUTH_HEADERS].map((header) => (sent.has(header) ? held.find((c) => c.header === header) : undefined)).find(Boolean) ?? held[0];
  if (!pick) return {};
  const value = model[pick.slot]!;
  return { [pick.header]: pick.bearer ? `Bearer ${value}` : value };
}

/** The headers `--inject` rules add on requests to host:port (none: the tunnel stays opaque). */
export function injectedHeaders(rules: readonly InjectRule[], host: string, port: number): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const rule of rules) if (rule.host === host && rule.port === port) headers[rule.header.toLowerCase()] = rule.value;
  return headers;
}
