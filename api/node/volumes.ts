/**
 * A cluster node's session volumes, as its own engine reports them: where a volume is on this
 * host (its Mountpoint), whether it is a session's (labels, the local driver with no options —
 * a `local` volume with `o=bind,device=/etc` would hand the node a host directory), and its
 * removal, retried while the engine still holds it for a container that is going away.
 */
import Docker from 'dockerode';
import { VolumeLabel } from './contract.js';
import { NodeError } from './http-util.js';

export interface VolumeInfo {
  name: string;
  /** Its directory on this host. */
  mountpoint: string;
  labels: Record<string, string>;
  driver: string;
  options: Record<string, string>;
}

/** The engine's side, behind an interface: the node needs these two things of it. */
export interface VolumeStore {
  /** null when this host's engine has no such volume. */
  inspect(name: string): Promise<VolumeInfo | null>;
  /** 'gone' when it was not there; 'in_use' while a container still holds it. */
  remove(name: string): Promise<'removed' | 'gone' | 'in_use'>;
}

const statusOf = (err: unknown): number | undefined => (err as { statusCode?: number }).statusCode;

export function engineVolumes(socketPath: string): VolumeStore {
  const docker = new Docker({ socketPath });
  /** No answer at all (no HTTP status): the engine is not where the node looks. */
  const unreachable = (err: unknown): NodeError | unknown =>
    statusOf(err) === undefined
      ? new NodeError(503, 'engine_unreachable', `this node's engine at ${socketPath} did not answer (${(err as NodeJS.ErrnoException).code ?? String(err)}): is dockerd running, and CATTY_NODE_DOCKER_SOCKET its socket?`)
      : err;
  return {
    async inspect(name) {
      try {
        const v = (await docker.getVolume(name).inspect()) as { Name: string; Mountpoint: string; Labels: Record<string, string> | null; Driver: string; Options: Record<string, string> | null };
        return { name: v.Name, mountpoint: v.Mountpoint, labels: v.Labels ?? {}, driver: v.Driver, options: v.Options ?? {} };
      } catch (err) {
        if (statusOf(err) === 404) return null;
        throw unreachable(err);
      }
    },
    async remove(name) {
      try {
        await docker.getVolume(name).remove();
        return 'removed';
      } catch (err) {
        if (statusOf(err) === 404) return 'gone';
        if (statusOf(err) === 409) return 'in_use';
        throw unreachable(err);
      }
    },
  };
}

/** The volume as a session's: refused (409) when its labels or driver say otherwise. */
export function checkSessionVolume(volume: VolumeInfo, sessionId: string): VolumeInfo {
  const problems: string[] = [];
  if (volume.labels[VolumeLabel.managed] !== 'true') problems.push(`no ${VolumeLabel.managed}=true label`);
  if (volume.labels[VolumeLabel.sessionId] !== sessionId) problems.push(`its ${VolumeLabel.sessionId} label is not ${sessionId}`);
  if (volume.driver !== 'local') problems.push(`driver ${volume.driver}, not local`);
  if (Object.keys(volume.options).length > 0) problems.push('driver options (a bind of a host directory?)');
  if (!volume.mountpoint.startsWith('/')) problems.push('no mountpoint on this host');
  if (problems.length > 0) throw new NodeError(409, 'not_session_volume', `volume ${volume.name} is not session ${sessionId}'s: ${problems.join('; ')}`);
  return volume;
}
