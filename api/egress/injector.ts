/**
 * The seam where credentials will be added (issue 20, item 5; not built yet): headers can only
 * be added on requests the proxy ends itself — plain HTTP requests, which is what the runtime's
 * in-sandbox bridge sends for the model API — never inside a CONNECT tunnel, which stays opaque.
 *
 * For each plain request, after its target is parsed and before the policy decides, the proxy
 * asks the session's injector whether to rewrite it. A rewrite names the upstream the request
 * really goes to (the model API over TLS, or the user's own gateway) and the headers to set. The
 * proxy then holds the rewrite to the same rules as any request, on the upstream it names:
 * - the session's policy must allow that upstream host and port (a rewrite is no way around it);
 * - headers go over plain HTTP only to a loopback upstream the user named with `--allow` (a
 *   local test gateway); anywhere else the upstream must be TLS, verified against the name;
 * - the Host sent is the upstream's, and nothing follows redirects, so an injected header is
 *   sent to that upstream only (SECURITY.md 43).
 */
import { classifyIp } from '../../session-runtime/wire/ip-address.js';

export interface PlainRequest {
  sessionId: string;
  method: string;
  /** The normalised host of the absolute URI, and its port. */
  host: string;
  port: number;
  path: string;
}

export interface Rewrite {
  /** Where the request is sent instead of the URI's host:port. */
  upstream: { host: string; port: number; tls: boolean };
  /** Set on the forwarded request, replacing any header of the same name the client sent. */
  headers: Record<string, string>;
}

export interface HeaderInjector {
  /** null: forward the request as the client asked, adding nothing. */
  rewrite(request: PlainRequest): Rewrite | null;
}

export const noInjection: HeaderInjector = { rewrite: () => null };

/** Whether injected headers may travel to these addresses without TLS: only to loopback, and
 * only when the user named the upstream (a named host is one the user meant to reach). */
export function plainInjectionAllowed(named: boolean, addresses: readonly string[]): boolean {
  return named && addresses.length > 0 && addresses.every((a) => classifyIp(a) === 'loopback');
}
