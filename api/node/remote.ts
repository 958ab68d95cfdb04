/**
 * The API's side of a cluster node: the catty-node on a Swarm host, reached over mutual TLS
 * (docs/cluster.md). The same typed `call`/`watch` as the host's own node (./client.ts, one
 * client over another transport), plus the machine routes: attach a session machine the
 * engine started there, close it (its volumes removed through that host's engine), list what is
 * attached, and the endpoint through which the API, its relay and nothing else reach the
 * machine's runtime.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EndpointTls, RuntimeEndpoint } from '../../session-runtime/wire/runtime-address.js';
import { createNodeClient, tlsTransport, type NodeClient } from './client.js';
import { ATTACH_TIMEOUT_MS, DEFAULT_NODE_PORT, machineRuntimePath, nodeRoutes, type RequestOf } from './contract.js';

/** What the API holds to reach cluster nodes, in CATTY_NODE_TLS_DIR (`catty-node certs --api`). */
export const API_TLS_FILES = { ca: 'ca.pem', cert: 'api.pem', key: 'api-key.pem' } as const;

export type AttachRequest = RequestOf<typeof nodeRoutes.attachMachine>;

export interface RemoteNode extends NodeClient {
  /** `https://host:port`. */
  readonly url: string;
  /** Resolves once the node holds the machine (its runtime listening, its gateway and egress open). */
  attachMachine(sessionId: string, request: AttachRequest): Promise<void>;
  /** Closes what the node holds for it and removes `volumes` (the session's own) on that host. */
  closeMachine(sessionId: string, volumes: string[]): Promise<void>;
  /** The session ids the node holds machines for. */
  machines(): Promise<string[]>;
  /** The machine's runtime, through the node (mutual TLS; the base URL carries a path). */
  runtimeEndpoint(sessionId: string): RuntimeEndpoint;
}

/** A node's URL from its address as Swarm reports it (a host name, an IPv4 or IPv6 address). */
export function nodeUrl(host: string, port = DEFAULT_NODE_PORT): string {
  return `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** The API's TLS material from CATTY_NODE_TLS_DIR, read once at start. */
export function loadApiTls(dir: string): EndpointTls {
  const read = (name: string): string => {
    try {
      return readFileSync(join(dir, name), 'utf8');
    } catch (err) {
      throw new Error(`cannot read ${join(dir, name)} (${(err as NodeJS.ErrnoException).code ?? String(err)}): CATTY_NODE_TLS_DIR must hold ca.pem, api.pem and api-key.pem (catty-node certs --api --out DIR)`);
    }
  };
  return { ca: read(API_TLS_FILES.ca), cert: read(API_TLS_FILES.cert), key: read(API_TLS_FILES.key) };
}

export function remoteNode(url: string, tls: EndpointTls): RemoteNode {
  const transport = tlsTransport(url, tls);
  const client = createNodeClient(transport);
  const origin = transport.address;
  return {
    ...client,
    url: origin,
    async attachMachine(sessionId, request) {
      // The node waits up to timeoutMs for the runtime's socket: the call waits a little longer.
      const timeoutMs = (request.timeoutMs ?? ATTACH_TIMEOUT_MS.default) + 10_000;
      await client.call(nodeRoutes.attachMachine, { id: sessionId, body: request, timeoutMs });
    },
    async closeMachine(sessionId, volumes) {
      // Removing a volume waits (bounded) for the engine to let go of it.
      await client.call(nodeRoutes.closeMachine, { id: sessionId, body: { volumes }, timeoutMs: 30_000 });
    },
    async machines() {
      return (await client.call(nodeRoutes.machines)).machines.map((m) => m.id);
    },
    runtimeEndpoint(sessionId) {
      return { url: `${origin}${machineRuntimePath(sessionId)}`, tls };
    },
  };
}
