/**
 * The one path from a requested `host:port` to addresses the proxy may connect to, shared by
 * CONNECT and plain requests: the policy's verdict on the name (before any lookup: a name the
 * policy refuses is never resolved — a DNS query is a channel out too), the proxy's own
 * lookup, then the verdict on every address. Refusals are logged for the session.
 */
import { checkEgressTarget, decideEgress, refusalBody, type EgressDecision, type Refusal } from '../../session-runtime/wire/network-policy.js';
import type { SessionContext } from './context.js';

export type Allowed = Extract<EgressDecision, { allow: true }>;

export type Admission = { ok: true; allowed: Allowed } | { ok: false; status: 400 | 403 | 502 | 504; body: string };

export async function admit(ctx: SessionContext, method: string, host: string, port: number): Promise<Admission> {
  const check = checkEgressTarget(ctx.policy(), host, port);
  if (!check.allow) return check.reason === 'malformed' ? malformed(check.message) : refuse(ctx, method, port, check);
  let addresses: string[] = [];
  if (check.host.kind === 'name') {
    try {
      addresses = await ctx.resolver.lookup(check.host.host);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const status = code === 'ETIMEOUT' ? 504 : 502;
      return { ok: false, status, body: `catty: egress: cannot resolve ${check.host.host}${code ? ` (${code})` : ''}\n` };
    }
  }
  // The policy may have been replaced during the lookup: decide with the current one.
  const decision = decideEgress(ctx.policy(), check.host.host, port, addresses);
  if (decision.allow) return { ok: true, allowed: decision };
  return decision.reason === 'malformed' ? malformed(decision.message) : refuse(ctx, method, port, decision);
}

/** Records a refusal and returns the 403 that says how to allow it. */
export function refuse(ctx: SessionContext, method: string, port: number, refusal: Refusal): Admission {
  const address = refusal.address === undefined ? {} : { address: refusal.address };
  ctx.log.add({ time: new Date().toISOString(), method: method.slice(0, 32), host: refusal.host, port, reason: refusal.reason, ...address, message: refusal.message });
  return { ok: false, status: 403, body: refusalBody(refusal) };
}

function malformed(message: string): Admission {
  return { ok: false, status: 400, body: `catty: egress: ${message}\n` };
}
