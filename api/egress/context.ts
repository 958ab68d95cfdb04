/**
 * What every handler of one session's listener shares: the session's policy (read at each
 * decision, so a replaced policy applies to the next request), its credentials and CA, resolver,
 * limits and refusal log, and the register of open upstream connections that a new policy is
 * checked against.
 */
import type { Host } from '../../session-runtime/wire/host-name.js';
import type { NetworkPolicy } from '../../session-runtime/wire/network-policy.js';
import type { SessionCredentials } from './credentials.js';
import { READ_RELAY_BYTES } from './read-relay.js';
import type { RefusalLog } from './refusal-log.js';
import type { Resolver } from './resolver.js';
import type { SessionCa } from './session-ca.js';

export interface EgressLimits {
  /** Client connections open at once per session, tunnels included; more are dropped. */
  maxConnections: number;
  /** Request line and headers; more → 431. */
  maxHeaderBytes: number;
  /** Time to receive a request's headers (slowloris); then 408. */
  headersTimeoutMs: number;
  /** How often node looks for connections past the headers timeout. */
  checkIntervalMs: number;
  /** A tunnel or an upstream response with no bytes either way for this long is closed. */
  idleTimeoutMs: number;
  /** Per address tried. */
  connectTimeoutMs: number;
  resolveTimeoutMs: number;
  /** Name lookups in flight per session (they hold threads of libuv's pool; resolver.ts). */
  maxLookups: number;
  /** Refusals kept in memory per session. */
  refusalLogSize: number;
  /** Each tunnel's read buffer for the upstream's bytes (read-relay.ts): at most this much of
   * its download is held here at a time. */
  relayBufferBytes: number;
}

export const DEFAULT_LIMITS: EgressLimits = {
  maxConnections: 256,
  maxHeaderBytes: 16 * 1024,
  headersTimeoutMs: 10_000,
  checkIntervalMs: 1_000,
  // Model responses stream with pings every few seconds; ten silent minutes is a dead peer.
  idleTimeoutMs: 10 * 60_000,
  connectTimeoutMs: 10_000,
  resolveTimeoutMs: 5_000,
  maxLookups: 2,
  refusalLogSize: 200,
  relayBufferBytes: READ_RELAY_BYTES,
};

/** An upstream connection in use, with what it was allowed for. */
export interface OpenUpstream {
  /** `CONNECT` or the plain request's method (for the log, should a new policy close it). */
  method: string;
  host: Host;
  port: number;
  addresses: string[];
  /** The model route's: open under every policy (injector.ts), so a new one leaves it be. */
  policyExempt?: boolean;
  /** Ends it (and its client side) now. */
  close(): void;
}

export interface SessionContext {
  readonly sessionId: string;
  policy(): NetworkPolicy;
  readonly resolver: Resolver;
  /** What the proxy adds (injector.ts); null: this listener was opened without them (a
   * restarted proxy, which keeps none on disk), so the model route cannot be served. */
  readonly credentials: SessionCredentials | null;
  /** The session's CA when it has inject rules (session-ca.ts). */
  readonly ca: SessionCa | null;
  readonly limits: EgressLimits;
  readonly log: RefusalLog;
  /** Extra CA certificates for TLS upstreams (tests' self-signed servers); the system's otherwise. */
  readonly upstreamCa: string | undefined;
  /** Registers an open upstream; the returned function forgets it. */
  track(upstream: OpenUpstream): () => void;
}
