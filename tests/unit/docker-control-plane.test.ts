import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CONTROL_PLANE_FILE, controlPlaneIdIn } from '../../api/provisioners/docker-control-plane.js';
import { tempDir } from '../helpers/temp-dir.js';

describe('the docker control plane id', () => {
  it('is made once per data directory, kept 0600, and the same after a restart', () => {
    const dataDir = tempDir('cp');
    const id = controlPlaneIdIn(dataDir);
    expect(id).toMatch(/^[0-9a-f]{24}$/);
    expect(controlPlaneIdIn(dataDir)).toBe(id);
    expect(fs.statSync(path.join(dataDir, CONTROL_PLANE_FILE)).mode & 0o777).toBe(0o600);
    expect(fs.readdirSync(dataDir)).toEqual([CONTROL_PLANE_FILE]);
  });

  it('differs between data directories (two APIs on one engine)', () => {
    expect(controlPlaneIdIn(tempDir('cp-a'))).not.toBe(controlPlaneIdIn(tempDir('cp-b')));
  });

  it('refuses a file that holds something else', () => {
    const dataDir = tempDir('cp');
    fs.writeFileSync(path.join(dataDir, CONTROL_PLANE_FILE), 'not an id\n');
    expect(() => controlPlaneIdIn(dataDir)).toThrow(/does not hold a control plane id/);
  });
});
