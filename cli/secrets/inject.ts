/**
 * `catty secrets set NAME --inject HOST[:PORT] [--header NAME]` (issue 20, item 5): the secret is
 * kept out of the session's machine and added by its egress proxy as a header on requests to
 * that host (default port 443; default header `Authorization: Bearer <value>`, while `--header`
 * sends the value as it is). Parsed with the seam's host rules, so a URL, a wildcard, a bad port
 * or a header the proxy owns is a usage error before anything is stored; and checked again at
 * `catty new` against the session's policy (an inject host must be one it may reach).
 */
import { injectHeaderProblem, type InjectRequest } from '../../api/contract/schemas.js';
import { UserError } from '../../session-runtime/wire/errors.js';
import { parseAllowEntry } from '../../session-runtime/wire/network-allow.js';
import { checkEgressTarget, hostPort, type NetworkPolicy } from '../../session-runtime/wire/network-policy.js';
import { ExitCode } from '../errors.js';
import type { InjectSetting } from './store.js';

const HINT = 'Give the host and, if not 443, its port: catty secrets set GH_TOKEN --inject api.github.com [--header X-Api-Key]';

export function parseInjectOption(entry: string, header: string | undefined): InjectSetting {
  const parsed = parseAllowEntry(entry.trim());
  if ('problem' in parsed) throw new UserError(`--inject: "${entry}" is not a host: ${parsed.problem}`, { exitCode: ExitCode.usage, hint: HINT });
  if (parsed.host.startsWith('*.')) throw new UserError(`--inject: "${entry}": a secret is injected for one host, not a wildcard`, { exitCode: ExitCode.usage, hint: HINT });
  // One port given: that one; none (80 and 443 for --allow): HTTPS's.
  const port = parsed.ports.length === 1 ? parsed.ports[0]! : 443;
  if (header === undefined) return { host: parsed.host, port, header: 'Authorization', bearer: true };
  const problem = injectHeaderProblem(header);
  if (problem) throw new UserError(`--header: ${JSON.stringify(header)} ${problem}`, { exitCode: ExitCode.usage, hint: 'For example --header X-Api-Key (the value is sent as it is), or leave it out for Authorization: Bearer.' });
  return { host: parsed.host, port, header, bearer: false };
}

/** The inject rules of the secrets a session gets, each checked against its policy. */
export function injectRequests(settings: Record<string, InjectSetting>, sent: readonly string[], network: NetworkPolicy): InjectRequest[] {
  const rules: InjectRequest[] = [];
  for (const name of sent) {
    const setting = settings[name];
    if (!setting) continue;
    if (!checkEgressTarget(network, setting.host, setting.port).allow) {
      const target = hostPort(setting.host, setting.port);
      const allow = setting.port === 443 ? setting.host : target;
      throw new UserError(`The secret ${name} is injected for ${target}, which this session's network policy (--net ${network.preset}) does not allow.`, {
        exitCode: ExitCode.usage,
        hint: `Allow it with: catty new --allow ${allow} (or leave the secret out: --no-secrets).`,
      });
    }
    rules.push({ secret: name, ...setting });
  }
  return rules;
}
