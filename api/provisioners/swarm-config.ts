/**
 * The Swarm provisioner's settings from the environment, validated. The session image, its
 * limits and the gVisor choice are the Docker provisioner's (`CATTY_DOCKER_*`, docker-config.ts):
 * one image, one set of limits, whichever engine runs it.
 *
 *   CATTY_SWARM_MANAGER  the manager's engine: unix:///var/run/docker.sock (the default), a
 *                        socket path, or tcp://host:port (put TLS in front: the engine's API is
 *                        root on that host)
 *   CATTY_NODE_TLS_DIR   ca.pem, api.pem, api-key.pem (`catty-node certs --api`): the API's
 *                        certificate for each node's catty-node (required)
 *   CATTY_NODE_PORT      the nodes' catty-node port (7443), unless a node is labelled
 *                        `catty.node.url=https://…`
 *   CATTY_DOCKER_RUNTIME with Swarm: sessions go only to nodes labelled `catty.runtime=<name>`,
 *                        whose dockerd runs that runtime by default (gVisor: catty-runsc)
 */
import * as z from '../../session-runtime/wire/zod.js';
import { DEFAULT_NODE_PORT } from '../node/contract.js';
import { dockerOptionsFromEnv, DockerConfigError, type DockerProvisionerOptions } from './docker-config.js';

/** Where the manager's engine API is, as dockerode takes it. */
export type ManagerAddress = { socketPath: string } | { host: string; port: number; protocol: 'http' };

export interface SwarmEnvOptions extends Pick<DockerProvisionerOptions, 'image' | 'runtime' | 'limits'> {
  manager: ManagerAddress;
  /** For messages: the manager as configured. */
  managerText: string;
  tlsDir: string | undefined;
  nodePort: number;
}

const SwarmEnv = z.object({
  CATTY_SWARM_MANAGER: z.optional(z.string().check(z.minLength(1))),
  CATTY_NODE_TLS_DIR: z.optional(z.string().check(z.regex(/^\//, 'must be an absolute path'))),
  CATTY_NODE_PORT: z.optional(z.coerce.number().check(z.int(), z.gte(1), z.lte(65535))),
});

/** `unix:///path`, `/path` or `tcp://host:port`; throws DockerConfigError naming the variable. */
export function parseManager(text: string): ManagerAddress {
  if (text.startsWith('/')) return { socketPath: text };
  if (text.startsWith('unix://')) return { socketPath: text.slice('unix://'.length) };
  const tcp = /^tcp:\/\/(\[[^\]]+\]|[^:/]+):(\d{1,5})\/?$/.exec(text);
  if (tcp) return { host: tcp[1]!.replace(/^\[|\]$/g, ''), port: Number(tcp[2]), protocol: 'http' };
  throw new DockerConfigError(`CATTY_SWARM_MANAGER must be unix:///path/docker.sock, a socket path or tcp://host:port (got ${JSON.stringify(text)})`);
}

export function swarmOptionsFromEnv(env: Record<string, string | undefined>): SwarmEnvOptions {
  const present = Object.fromEntries(Object.entries(env).filter(([name, value]) => /^CATTY_(SWARM|NODE)_/.test(name) && value !== ''));
  const parsed = SwarmEnv.safeParse(present);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new DockerConfigError(`${String(issue?.path[0] ?? 'CATTY_SWARM_*')} ${issue?.message ?? 'is invalid'}`);
  }
  const docker = dockerOptionsFromEnv(env);
  const managerText = parsed.data.CATTY_SWARM_MANAGER ?? 'unix:///var/run/docker.sock';
  return {
    ...(docker.image ? { image: docker.image } : {}),
    ...(docker.runtime ? { runtime: docker.runtime } : {}),
    limits: docker.limits ?? {},
    manager: parseManager(managerText),
    managerText,
    tlsDir: parsed.data.CATTY_NODE_TLS_DIR,
    nodePort: parsed.data.CATTY_NODE_PORT ?? DEFAULT_NODE_PORT,
  };
}
