/**
 * Which control plane a session container belongs to. A Docker engine is shared — by a
 * deployment and a test run on the same host, by two deployments, by CI jobs — and every catty
 * container carries `catty.managed=true`, so that label alone cannot say whose a container is.
 * Each API reconciles on start by stopping every machine `list()` returns that none of its live
 * sessions owns: when `list()` returned the whole engine, starting one API stopped every other
 * API's sessions (their agents hung up: Claude Code exits 129). So each container is labelled
 * with its control plane's id, and the provisioner lists only its own.
 *
 * The id lives in the API's data directory, beside its state: it is the same across restarts of
 * that API and differs for any other one (a compose deployment's `/data` volume, a test's temp
 * directory). Replicas that share one state store should share one id (the provisioner's
 * `controlPlane` option).
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export const CONTROL_PLANE_FILE = 'docker-control-plane';
const ID = /^[0-9a-f]{24}$/;

export function newControlPlaneId(): string {
  return randomBytes(12).toString('hex');
}

/** The id kept in `dataDir`, created on first use: written whole to a temp file, then linked
 * into place, which fails if another start got there first (its id is then the one). */
export function controlPlaneIdIn(dataDir: string): string {
  const file = path.join(dataDir, CONTROL_PLANE_FILE);
  if (!fs.existsSync(file)) {
    fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, `${newControlPlaneId()}\n`, { mode: 0o600 });
    try {
      fs.linkSync(tmp, file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    } finally {
      fs.rmSync(tmp, { force: true });
    }
  }
  const id = fs.readFileSync(file, 'utf8').trim();
  if (!ID.test(id)) throw new Error(`${file} does not hold a control plane id (24 hex digits); remove it to make a new one`);
  return id;
}
