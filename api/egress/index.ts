/**
 * The egress proxy (issue 20; SECURITY.md 38–44): the only way out of a session's sandbox. One
 * listener per session on a Unix socket the caller chooses (bound into that sandbox), each with
 * the session's network policy and credentials in memory; plain HTTP (forward.ts), CONNECT
 * (tunnel.ts), and the two paths that add credentials (injector.ts): the model route and
 * `--inject`, for which the session gets a CA of its own, its certificate written beside the
 * socket as EGRESS_CA_NAME (the machine sees that directory); names resolved here and every
 * address judged (admit.ts) before connecting to exactly that address.
 *
 * Host-side: whoever runs it (catty-api locally, later a host process per node) opens a listener
 * when a session starts, replaces its policy when it changes, persists the refusals it is
 * handed, and closes the listener when the session ends. Listeners share nothing but the event
 * loop and the resolver: a flood on one leaves the others answering (each has its own limits).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { EgressRefusal, NetworkPolicy } from '../../session-runtime/wire/network-policy.js';
import { EGRESS_CA_NAME } from '../../session-runtime/wire/runtime-env.js';
import { DEFAULT_LIMITS, type EgressLimits } from './context.js';
import type { SessionCredentials } from './credentials.js';
import { openSessionListener, type SessionListener } from './listener.js';
import { systemResolver, type Resolver } from './resolver.js';
import { createSessionCa } from './session-ca.js';

export type { EgressLimits } from './context.js';
export type { InjectRule, ModelCredentials, SessionCredentials } from './credentials.js';
export { NO_CREDENTIALS } from './credentials.js';
export { MODEL_CREDENTIALS_LOST } from './model-route.js';
export type { Resolver } from './resolver.js';
export { staticResolver, systemResolver } from './resolver.js';

export interface EgressProxyOptions {
  /** Default: the system's (node:dns lookup) with limits.resolveTimeoutMs. */
  resolver?: Resolver;
  limits?: Partial<EgressLimits>;
  /** Each refusal of any session, for the owner to persist (`catty logs --net`). */
  onRefusal?: (sessionId: string, refusal: EgressRefusal) => void;
  /** Extra trusted CA certificates (PEM) for TLS upstreams the proxy opens itself. */
  upstreamCa?: string;
}

export interface EgressProxy {
  /** Starts the session's listener at `socketPath` (its directory: ours, 0700), holding the
   * session's credentials in memory. Without `credentials` (a restarted proxy: they are never
   * on disk) the model route answers that they are lost; an earlier ca.pem is left as it was. */
  open(sessionId: string, socketPath: string, policy: NetworkPolicy, credentials?: SessionCredentials): Promise<void>;
  setPolicy(sessionId: string, policy: NetworkPolicy): void;
  refusals(sessionId: string): EgressRefusal[];
  stats(sessionId: string): ReturnType<SessionListener['stats']> | undefined;
  close(sessionId: string): Promise<void>;
  closeAll(): Promise<void>;
}

export function createEgressProxy(options: EgressProxyOptions = {}): EgressProxy {
  const limits: EgressLimits = { ...DEFAULT_LIMITS, ...options.limits };
  const resolver = options.resolver ?? systemResolver({ timeoutMs: limits.resolveTimeoutMs });
  const listeners = new Map<string, SessionListener>();
  const opening = new Set<string>();
  const get = (sessionId: string): SessionListener => {
    const found = listeners.get(sessionId);
    if (!found) throw new Error(`egress: no listener for session ${sessionId}`);
    return found;
  };

  return {
    async open(sessionId, socketPath, policy, credentials) {
      if (listeners.has(sessionId) || opening.has(sessionId)) throw new Error(`egress: session ${sessionId} already has a listener`);
      opening.add(sessionId);
      try {
        const injectHosts = [...new Set((credentials?.inject ?? []).map((rule) => rule.host))];
        const ca = injectHosts.length > 0 ? await createSessionCa(sessionId, injectHosts) : null;
        if (ca) writeCaCertificate(path.join(path.dirname(socketPath), EGRESS_CA_NAME), ca.certPem);
        const opened = await openSessionListener({
          sessionId,
          socketPath,
          policy,
          resolver,
          credentials: credentials ?? null,
          ca,
          limits,
          onRefusal: (refusal) => options.onRefusal?.(sessionId, refusal),
          upstreamCa: options.upstreamCa,
        });
        listeners.set(sessionId, opened);
      } finally {
        opening.delete(sessionId);
      }
    },
    setPolicy: (sessionId, policy) => get(sessionId).setPolicy(policy),
    refusals: (sessionId) => get(sessionId).refusals(),
    stats: (sessionId) => listeners.get(sessionId)?.stats(),
    async close(sessionId) {
      const found = listeners.get(sessionId);
      listeners.delete(sessionId);
      await found?.close();
    },
    async closeAll() {
      const all = [...listeners.values()];
      listeners.clear();
      await Promise.all(all.map((l) => l.close()));
    },
  };
}

/** The CA's certificate, for the machine to trust: world-readable (it is public), replaced whole. */
function writeCaCertificate(file: string, pem: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const temp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temp, pem, { mode: 0o644 });
  fs.renameSync(temp, file);
}
