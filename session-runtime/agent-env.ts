/**
 * The agent's environment: built from nothing, never inherited. Only a minimal PATH/TERM/LANG/
 * HOME/SHELL plus CATTY_AGENT_ENV reach the agent — never CATTY_* or the runtime's own
 * variables (tokens, storage credentials) — and, with an egress proxy, the variables that send
 * its HTTP(S) through the runtime's bridge (egress-bridge.ts), and those of the credentials the
 * proxy holds for it ({@link egressAgentEnv}): the model API at the bridge with a placeholder
 * key, and the session CA of `--inject` for every TLS client.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ModelRoute } from './config.js';

/** The package root: two levels up from dist/session-runtime (or from session-runtime/ in src). */
export function packageRoot(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const up1 = path.dirname(here);
  return path.basename(up1) === 'dist' ? path.dirname(up1) : up1;
}

const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface AgentEnvInput {
  /** The runtime's own environment: only PATH, LANG and SHELL are looked at. */
  runtimeEnv: NodeJS.ProcessEnv;
  agentEnv: Record<string, string>;
  home: string;
  isRoot: boolean;
  /** The egress bridge's URL (`http://127.0.0.1:PORT`); absent: no proxy variables. */
  proxyUrl?: string | null;
  /** {@link egressAgentEnv}'s variables: set last, over the user's of the same name. */
  egressEnv?: Record<string, string>;
}

/**
 * What HTTP clients read: curl, git, pip, npm, Go and Claude Code honour these (the lowercase
 * forms first, for most). Node's own fetch and http do not, unless NODE_USE_ENV_PROXY=1 (recent
 * Node 22 and 24 releases; older ones ignore it). Loopback stays direct: a server the agent runs is its own.
 */
const PROXY_VARIABLES = ['HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy'] as const;
const NO_PROXY = 'localhost,127.0.0.1,::1';

export function buildAgentEnv(input: AgentEnvInput): Record<string, string> {
  const bundledBin = path.join(packageRoot(), 'node_modules', '.bin');
  const basePath = input.runtimeEnv.PATH || SYSTEM_PATH;
  const env: Record<string, string> = {
    PATH: `${basePath}${path.delimiter}${bundledBin}`,
    TERM: 'xterm-256color',
    LANG: input.runtimeEnv.LANG && !input.runtimeEnv.LANG.startsWith('CATTY') ? input.runtimeEnv.LANG : 'C.UTF-8',
    HOME: input.home,
    SHELL: input.runtimeEnv.SHELL || '/bin/sh',
  };
  // Claude Code refuses --dangerously-skip-permissions as root unless it knows it is sandboxed.
  if (input.isRoot) env.IS_SANDBOX = '1';
  // The bundled Claude Code lives on a read-only system: its self-updater can only fail, and
  // says so on the agent's screen. Updates come with the image (or `npm update` on the host).
  env.DISABLE_AUTOUPDATER = '1';
  for (const [name, value] of Object.entries(input.agentEnv)) {
    // The runtime's own names never reach the agent, even if a caller tries to pass them.
    if (name.startsWith('CATTY_')) continue;
    env[name] = value;
  }
  if (input.proxyUrl) {
    // Ours over the user's: the proxy is the machine's only way out, another would lead nowhere.
    for (const name of PROXY_VARIABLES) env[name] = input.proxyUrl;
    env.NO_PROXY = env.no_proxy = NO_PROXY;
    env.NODE_USE_ENV_PROXY = '1';
  }
  Object.assign(env, input.egressEnv);
  return env;
}

export interface AgentEgress {
  /** The bridge's URL: with a model route, the agent's base URL (ANTHROPIC_BASE_URL, …). */
  bridgeUrl: string;
  /** CATTY_MODEL_ROUTE: the credential variables the agent gets a placeholder for, and its
   * base-URL variable; null: no model route. */
  modelRoute: ModelRoute | null;
  /** The session CA's certificate inside the machine (`--inject`); null: none. */
  caFile: string | null;
  /** The machine's trusted certificates plus the session CA, for OpenSSL's clients. */
  caBundle: string | null;
}

/** What the agent is given instead of a credential: it starts logged in, and the proxy puts the
 * real one in its place on the way out (api/egress/model-route.ts). Long enough for the last 20
 * characters, by which Claude Code remembers an approved key, to be this text. */
export const MODEL_PLACEHOLDER = 'catty-placeholder-the-egress-proxy-adds-the-real-credential';

/** The variables TLS clients read for extra trusted certificates: Node's (added to its own
 * roots), then OpenSSL's and those of curl, git, Python requests and pip (each a whole bundle). */
const NODE_EXTRA_CA = 'NODE_EXTRA_CA_CERTS';
const CA_BUNDLE_VARIABLES = ['SSL_CERT_FILE', 'CURL_CA_BUNDLE', 'GIT_SSL_CAINFO', 'REQUESTS_CA_BUNDLE', 'PIP_CERT'] as const;

/** The agent's variables for the credentials the egress proxy holds for it. */
export function egressAgentEnv(egress: AgentEgress): Record<string, string> {
  const env: Record<string, string> = {};
  if (egress.modelRoute) {
    if (egress.modelRoute.baseUrlEnv) env[egress.modelRoute.baseUrlEnv] = egress.bridgeUrl;
    for (const name of egress.modelRoute.variables) env[name] = MODEL_PLACEHOLDER;
  }
  if (egress.caFile) env[NODE_EXTRA_CA] = egress.caFile;
  if (egress.caBundle) for (const name of CA_BUNDLE_VARIABLES) env[name] = egress.caBundle;
  return env;
}
