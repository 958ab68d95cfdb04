/**
 * Which of a new session's secrets stay out of its machine (issue 20, item 5; issue 25;
 * SECURITY.md 42): the model credentials its agent reads (wire/agent-*.ts: Claude Code's
 * ANTHROPIC_API_KEY, CLAUDE_CODE_OAUTH_TOKEN, ANTHROPIC_AUTH_TOKEN; Codex's OPENAI_API_KEY;
 * Gemini CLI's GEMINI_API_KEY or GOOGLE_API_KEY), the base URL of the user's own gateway for it
 * (ANTHROPIC_BASE_URL, OPENAI_BASE_URL, GOOGLE_GEMINI_BASE_URL) and every secret set with
 * `--inject` go to the egress proxy, which adds them on the way out; the rest is the agent's
 * environment, as before. Checked here, before anything starts: an inject rule names a secret
 * that was sent and a host:port the session's policy allows; a base URL is one the proxy can use.
 */
import type { CreateSessionRequest, InjectRequest } from '../contract/schemas.js';
import type { InjectRule, ModelCredentials, SessionCredentials } from '../egress/index.js';
import { parseModelUpstream } from '../egress/injector.js';
import { badRequest } from '../errors.js';
import { checkEgressTarget, hostPort, type NetworkPolicy } from '../../session-runtime/wire/network-policy.js';
import { placeholderVariable } from '../../session-runtime/wire/agent.js';
import { agentByName, DEFAULT_AGENT, modelAgentOf, type AgentName } from '../../session-runtime/wire/agents.js';

export interface SplitSecrets {
  /** Whose credentials these are (MachineSpec.agent). */
  agent: AgentName;
  /** What the agent's environment gets. */
  agentEnv: Record<string, string>;
  /** What the egress proxy holds. */
  credentials: SessionCredentials;
  /** The credential variables the agent gets placeholders for (MachineSpec.modelRoute); absent: no model route. */
  modelRoute?: string[];
}

export function splitSecrets(request: Pick<CreateSessionRequest, 'secrets' | 'inject'>, network: NetworkPolicy, agent: AgentName = DEFAULT_AGENT): SplitSecrets {
  const agentEnv: Record<string, string> = { ...(request.secrets ?? {}) };
  const inject = (request.inject ?? []).map((rule) => injectRule(rule, agentEnv, network));
  for (const rule of request.inject ?? []) delete agentEnv[rule.secret];

  const owner = modelAgentOf(agent);
  const api = agentByName(owner).model!;
  const model: ModelCredentials = owner === DEFAULT_AGENT ? {} : { agent: owner };
  const modelRoute: string[] = [];
  for (const credential of api.credentials) {
    const value = agentEnv[credential.secret];
    if (value === undefined) continue;
    headerSafe(credential.secret, value);
    model[credential.slot] = value;
    const variable = placeholderVariable(credential);
    if (!modelRoute.includes(variable)) modelRoute.push(variable);
    delete agentEnv[credential.secret];
  }
  const baseUrl = agentEnv[api.baseUrlSecret];
  if (baseUrl !== undefined) {
    const upstream = parseModelUpstream(baseUrl, api.defaultUrl, api.baseUrlSecret);
    if ('problem' in upstream) throw badRequest(`the ${api.baseUrlSecret} secret cannot be used: ${upstream.problem}`);
    model.baseUrl = baseUrl;
    delete agentEnv[api.baseUrlSecret];
  }
  const hasModel = modelRoute.length > 0 || model.baseUrl !== undefined;
  return { agent, agentEnv, credentials: hasModel ? { model, inject } : { inject }, ...(hasModel ? { modelRoute } : {}) };
}

function injectRule(rule: InjectRequest, secrets: Record<string, string>, network: NetworkPolicy): InjectRule {
  const value = secrets[rule.secret];
  if (value === undefined) throw badRequest(`inject: the secret ${rule.secret} is not among the secrets sent`);
  headerSafe(rule.secret, value);
  const target = hostPort(rule.host, rule.port);
  const check = checkEgressTarget(network, rule.host, rule.port);
  if (!check.allow) {
    throw badRequest(`inject: the secret ${rule.secret} is for ${target}, which this session's network policy does not allow; allow it with --allow ${target}`);
  }
  return { host: rule.host, port: rule.port, header: rule.header.toLowerCase(), value: rule.bearer ? `Bearer ${value}` : value };
}

/** A value the proxy sends in a header: one line (a CR, LF or NUL would split the request). */
function headerSafe(name: string, value: string): void {
  if (/[\r\n\0]/.test(value)) throw badRequest(`the secret ${name} holds a line break or NUL, which no HTTP header can carry; set it again as one line`);
}
