/**
 * Which of a new session's secrets stay out of its machine (issue 20, item 5; SECURITY.md 42):
 * the model credentials Claude Code reads (ANTHROPIC_API_KEY, CLAUDE_CODE_OAUTH_TOKEN,
 * ANTHROPIC_AUTH_TOKEN, and the ANTHROPIC_BASE_URL of a gateway) and every secret set with
 * `--inject` go to the egress proxy, which adds them on the way out; the rest is the agent's
 * environment, as before. Checked here, before anything starts: an inject rule names a secret
 * that was sent and a host:port the session's policy allows; a base URL is one the proxy can use.
 */
import type { CreateSessionRequest, InjectRequest } from '../contract/schemas.js';
import type { InjectRule, ModelCredentials, SessionCredentials } from '../egress/index.js';
import { parseModelUpstream } from '../egress/injector.js';
import { badRequest } from '../errors.js';
import { checkEgressTarget, hostPort, type NetworkPolicy } from '../../session-runtime/wire/network-policy.js';
import { MODEL_BASE_URL_NAME, MODEL_CREDENTIAL_NAMES, type ModelCredentialName } from '../../session-runtime/wire/runtime-env.js';

export interface SplitSecrets {
  /** What the agent's environment gets. */
  agentEnv: Record<string, string>;
  /** What the egress proxy holds. */
  credentials: SessionCredentials;
  /** The credential variables the agent gets placeholders for (MachineSpec.modelRoute); absent: no model route. */
  modelRoute?: ModelCredentialName[];
}

const MODEL_FIELDS: Record<ModelCredentialName, keyof ModelCredentials> = {
  ANTHROPIC_API_KEY: 'apiKey',
  CLAUDE_CODE_OAUTH_TOKEN: 'oauthToken',
  ANTHROPIC_AUTH_TOKEN: 'authToken',
};

export function splitSecrets(request: Pick<CreateSessionRequest, 'secrets' | 'inject'>, network: NetworkPolicy): SplitSecrets {
  const agentEnv: Record<string, string> = { ...(request.secrets ?? {}) };
  const inject = (request.inject ?? []).map((rule) => injectRule(rule, agentEnv, network));
  for (const rule of request.inject ?? []) delete agentEnv[rule.secret];

  const model: ModelCredentials = {};
  const modelRoute: ModelCredentialName[] = [];
  for (const name of MODEL_CREDENTIAL_NAMES) {
    const value = agentEnv[name];
    if (value === undefined) continue;
    headerSafe(name, value);
    model[MODEL_FIELDS[name]] = value;
    modelRoute.push(name);
    delete agentEnv[name];
  }
  const baseUrl = agentEnv[MODEL_BASE_URL_NAME];
  if (baseUrl !== undefined) {
    const upstream = parseModelUpstream(baseUrl);
    if ('problem' in upstream) throw badRequest(`the ${MODEL_BASE_URL_NAME} secret cannot be used: ${upstream.problem}`);
    model.baseUrl = baseUrl;
    delete agentEnv[MODEL_BASE_URL_NAME];
  }
  const hasModel = modelRoute.length > 0 || model.baseUrl !== undefined;
  return { agentEnv, credentials: hasModel ? { model, inject } : { inject }, ...(hasModel ? { modelRoute } : {}) };
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
