/**
 * The Docker provisioner's options, and its settings from the environment (`CATTY_DOCKER_*`),
 * validated. The API's config module owns precedence for its own settings; these are the
 * provisioner's alone.
 *
 *   CATTY_DOCKER_IMAGE       session image (catty-session:dev)
 *   CATTY_DOCKER_RUNTIME     OCI runtime, e.g. catty-runsc for gVisor (unset: the engine's default);
 *                            a gVisor runtime must be registered with --network=none --host-uds=all
 *   CATTY_DOCKER_RUN_DIR     where each session container's run directory (its sockets) is made
 *                            (<data dir>/docker); the engine binds it by this path, so when
 *                            catty-api runs in a container it must be the same path on the host
 *   CATTY_DOCKER_MEMORY_MB   memory limit per session (2048), no extra swap
 *   CATTY_DOCKER_CPUS        CPUs per session, fractional allowed (2)
 *   CATTY_DOCKER_PIDS_LIMIT  processes per session (512)
 *   CATTY_DOCKER_TMP_MB      size of the /tmp tmpfs (1024; counts against memory)
 *   CATTY_DOCKER_HOME_MB     size of the agent's home tmpfs (256)
 *   DOCKER_HOST              engine address (default unix:///var/run/docker.sock), read by dockerode
 */
import type Docker from 'dockerode';
import * as z from '../../session-runtime/wire/zod.js';
import type { Logger } from '../logger.js';
import type { ContainerLimits } from './docker-spec.js';

export interface DockerProvisionerOptions {
  /** Session image (default `catty-session:dev`, what infra/build-session-image.sh builds). */
  image?: string;
  /** Engine connection; default: DOCKER_HOST, else /var/run/docker.sock. */
  socketPath?: string;
  /** OCI runtime, e.g. `catty-runsc` for gVisor (registered in /etc/docker/daemon.json). */
  runtime?: string;
  /** Host directory holding each machine's run directory; default `<config.dataDir>/docker`. */
  runDir?: string;
  limits?: Partial<ContainerLimits>;
  /** Extra environment for the runtime (not the agent), e.g. CATTY_SNAPSHOT_INTERVAL_MS. */
  runtimeEnv?: Record<string, string>;
  /** How long `start` waits for the container to be running. */
  startTimeoutMs?: number;
  /** An existing client (tests); otherwise one is created from `socketPath`/DOCKER_HOST. */
  docker?: Docker;
  /**
   * Whose containers these are (docker-control-plane.ts): only containers labelled with this id
   * are listed. Default: the id kept in `config.dataDir`; without one, a new id per provisioner.
   */
  controlPlane?: string;
  /** Where `CATTY_DOCKER_*` settings are read from (default process.env); explicit options win. */
  env?: Record<string, string | undefined>;
  logger?: Logger;
  /** The API's config, as api/server.ts passes it: its data directory keeps the control plane
   * id and, by default, the machines' run directories (runtime knobs arrive per MachineSpec). */
  config?: { dataDir?: string };
}

const MiB = 1024 * 1024;
const positive = z.coerce.number().check(z.positive());
const positiveInt = z.coerce.number().check(z.int(), z.positive());

const DockerEnv = z.object({
  CATTY_DOCKER_IMAGE: z.optional(z.string().check(z.minLength(1))),
  CATTY_DOCKER_RUN_DIR: z.optional(z.string().check(z.regex(/^\//, 'must be an absolute path'))),
  CATTY_DOCKER_RUNTIME: z.optional(z.string().check(z.regex(/^[A-Za-z0-9_.-]+$/, 'must be an OCI runtime name'))),
  CATTY_DOCKER_MEMORY_MB: z.optional(positiveInt),
  CATTY_DOCKER_CPUS: z.optional(positive),
  CATTY_DOCKER_PIDS_LIMIT: z.optional(positiveInt),
  CATTY_DOCKER_TMP_MB: z.optional(positiveInt),
  CATTY_DOCKER_HOME_MB: z.optional(positiveInt),
});

export class DockerConfigError extends Error {
  override name = 'DockerConfigError';
}

/** Reads the `CATTY_DOCKER_*` variables (empty = unset); throws DockerConfigError naming the bad one. */
export function dockerOptionsFromEnv(env: Record<string, string | undefined>): DockerProvisionerOptions {
  // Sessions have no network of their own to choose any more (docker-spec.ts): said, not ignored.
  if (env.CATTY_DOCKER_NETWORK) {
    throw new DockerConfigError('CATTY_DOCKER_NETWORK is no longer read: session containers have no network (--network none) and reach the API and the internet only through their sockets; remove it');
  }
  const present = Object.fromEntries(Object.entries(env).filter(([name, value]) => name.startsWith('CATTY_DOCKER_') && value !== ''));
  const parsed = DockerEnv.safeParse(present);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new DockerConfigError(`${String(issue?.path[0] ?? 'CATTY_DOCKER_*')} ${issue?.message ?? 'is invalid'}`);
  }
  const e = parsed.data;
  const limits: NonNullable<DockerProvisionerOptions['limits']> = {};
  if (e.CATTY_DOCKER_MEMORY_MB) limits.memoryBytes = e.CATTY_DOCKER_MEMORY_MB * MiB;
  if (e.CATTY_DOCKER_CPUS) limits.nanoCpus = Math.round(e.CATTY_DOCKER_CPUS * 1e9);
  if (e.CATTY_DOCKER_PIDS_LIMIT) limits.pidsLimit = e.CATTY_DOCKER_PIDS_LIMIT;
  if (e.CATTY_DOCKER_TMP_MB) limits.tmpBytes = e.CATTY_DOCKER_TMP_MB * MiB;
  if (e.CATTY_DOCKER_HOME_MB) limits.homeBytes = e.CATTY_DOCKER_HOME_MB * MiB;
  return {
    ...(e.CATTY_DOCKER_IMAGE ? { image: e.CATTY_DOCKER_IMAGE } : {}),
    ...(e.CATTY_DOCKER_RUN_DIR ? { runDir: e.CATTY_DOCKER_RUN_DIR.replace(/(.)\/+$/, '$1') } : {}),
    ...(e.CATTY_DOCKER_RUNTIME ? { runtime: e.CATTY_DOCKER_RUNTIME } : {}),
    limits,
  };
}
