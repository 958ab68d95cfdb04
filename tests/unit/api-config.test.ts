import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../api/config.js';
import { UserError } from '../../session-runtime/wire/errors.js';
import { bwrapArgs } from '../../api/provisioners/bwrap.js';
import { agentCommand } from '../../api/services/agent-cmd.js';
import { LABEL_PATTERN, randomLabel, uniqueLabel } from '../../api/services/labels.js';
import { decrypt, encrypt } from '../../api/crypto.js';
import { randomBytes } from 'node:crypto';
import { packageRoot } from '../../api/package-root.js';
import { tempDir } from '../helpers/temp-dir.js';

function configFile(content: unknown): string {
  const file = join(tempDir('cfg'), 'config.json');
  writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
  return file;
}

describe('config precedence: flags > env > file > defaults', () => {
  it('uses defaults', () => {
    const c = loadConfig({}, { HOME: '/home/x' });
    expect(c).toMatchObject({ listenHost: '127.0.0.1', listenPort: 8787, provisioner: 'local', maxSessionsPerUser: 25, defaultTtlSec: 7200, snapshotsKept: 10, publicUrl: null });
    expect(c.s3.endpoint).toBeNull();
  });

  it('file < env < flags', () => {
    const file = configFile({ listen: '0.0.0.0:9000', dataDir: '/from-file', maxSessionsPerUser: 3, s3: { endpoint: 'http://minio:9000', bucket: 'file-bucket' } });
    const env = { CATTY_CONFIG: file, CATTY_DATA_DIR: '/from-env', CATTY_S3_BUCKET: 'env-bucket', CATTY_RUNTIME_ENV: '{"CATTY_SNAPSHOT_INTERVAL_MS":"1000"}' };
    const c = loadConfig({ dataDir: '/from-flag' }, env);
    expect(c).toMatchObject({ listenHost: '0.0.0.0', listenPort: 9000, dataDir: '/from-flag', maxSessionsPerUser: 3, runtimeEnv: { CATTY_SNAPSHOT_INTERVAL_MS: '1000' } });
    expect(c.s3).toMatchObject({ endpoint: 'http://minio:9000', bucket: 'env-bucket' });
    expect(loadConfig({}, env).dataDir).toBe('/from-env');
    expect(loadConfig({}, { CATTY_CONFIG: file }).dataDir).toBe('/from-file');
  });

  it('port 0 is allowed; bad values are UserErrors naming the setting', () => {
    expect(loadConfig({}, { CATTY_API_LISTEN: '127.0.0.1:0' }).listenPort).toBe(0);
    expect(() => loadConfig({}, { CATTY_API_LISTEN: 'nohost' })).toThrow(UserError);
    expect(() => loadConfig({}, { CATTY_PROVISIONER: 'k8s' })).toThrow(/CATTY_PROVISIONER/);
    expect(() => loadConfig({}, { CATTY_MAX_SESSIONS_PER_USER: 'many' })).toThrow(/CATTY_MAX_SESSIONS_PER_USER/);
    expect(() => loadConfig({}, { CATTY_RUNTIME_ENV: '{"PATH":"/x"}' })).toThrow(/CATTY_RUNTIME_ENV/);
    expect(loadConfig({}, {}).localNice).toBe(10);
    expect(loadConfig({}, {}).localSpare).toBe(true);
    expect(loadConfig({}, { CATTY_LOCAL_SPARE: '0' }).localSpare).toBe(false);
    expect(() => loadConfig({}, { CATTY_LOCAL_SPARE: 'yes' })).toThrow(/CATTY_LOCAL_SPARE/);
    expect(loadConfig({}, { CATTY_S3_FORCE_PATH_STYLE: 'false' }).s3.forcePathStyle).toBe(false);
    expect(() => loadConfig({}, { CATTY_S3_FORCE_PATH_STYLE: 'yes' })).toThrow(/CATTY_S3_FORCE_PATH_STYLE/);
    expect(loadConfig({}, { CATTY_LOCAL_NICE: '0' }).localNice).toBe(0);
    expect(() => loadConfig({}, { CATTY_LOCAL_NICE: '20' })).toThrow(/CATTY_LOCAL_NICE/);
    expect(() => loadConfig({}, { CATTY_LOCAL_NICE: '-1' })).toThrow(/CATTY_LOCAL_NICE/);
    expect(() => loadConfig({}, { CATTY_CONFIG: configFile('{nope') })).toThrow(/not valid JSON/);
    expect(() => loadConfig({}, { CATTY_CONFIG: configFile({ unknownKey: 1 }) })).toThrow(/invalid/);
  });
});

describe('labels and agent commands', () => {
  it('labels look like adjective-noun-NNNN and avoid taken ones', () => {
    for (let i = 0; i < 100; i++) expect(randomLabel()).toMatch(LABEL_PATTERN);
    const taken = new Set<string>();
    for (let i = 0; i < 200; i++) taken.add(uniqueLabel((l) => taken.has(l)));
    expect(taken.size).toBe(200);
    expect(() => uniqueLabel(() => true)).toThrow();
  });

  it('maps agent/cmd to argv', () => {
    expect(agentCommand('claude', undefined)).toEqual(['claude', '--dangerously-skip-permissions']);
    expect(agentCommand('shell', undefined, () => true)).toEqual(['bash', '-l']);
    expect(agentCommand('shell', undefined, () => false)).toEqual(['sh', '-l']);
    expect(agentCommand('claude', 'make test')).toEqual(['sh', '-c', 'make test']);
  });
});

describe('connect-token sealing', () => {
  it('round-trips, uses a fresh nonce, and is bound to its row', () => {
    const key = randomBytes(32);
    const a = encrypt(key, 'cat_ct_x', 'connect:1');
    expect(encrypt(key, 'cat_ct_x', 'connect:1')).not.toBe(a);
    expect(decrypt(key, a, 'connect:1')).toBe('cat_ct_x');
    expect(() => decrypt(key, a, 'connect:2')).toThrow();
    expect(() => decrypt(randomBytes(32), a, 'connect:1')).toThrow();
  });
});

describe('bubblewrap arguments', () => {
  const ROOT = packageRoot();
  const args = bwrapArgs(
    { workspace: '/data/machines/s1/workspace', tmp: '/data/machines/s1/tmp', home: '/data/machines/s1/home', run: '/data/machines/s1/run', passwdFile: '/data/machines/s1/passwd', groupFile: '/data/machines/s1/group', packageRoot: ROOT, nodePath: '/usr/bin/node' },
    ['/usr/bin/node', `${ROOT}/dist/session-runtime/bin.js`],
  );
  const joined = args.join(' ');

  it('maps to an unprivileged uid, drops capabilities, unshares (its network too), survives the API', () => {
    expect(joined).toContain('--unshare-user --uid 1000 --gid 1000');
    expect(joined).toContain('--cap-drop ALL');
    for (const ns of ['--unshare-pid', '--unshare-ipc', '--unshare-uts', '--unshare-net']) expect(args).toContain(ns);
    expect(args).toContain('--new-session');
    expect(args).not.toContain('--die-with-parent');
    // nothing of the host's /run (its D-Bus, Docker, X11 sockets): only the machine's run dir
    expect(args.filter((a) => a.startsWith('/run'))).toEqual(['/run/catty']);
    // the environment is passed through bwrap's own env, never on its command line
    expect(args).not.toContain('--setenv');
  });

  it('binds only this machine\'s directories writable, the package read-only, nothing else of the data dir', () => {
    const writable = args.flatMap((a, i) => (a === '--bind' ? [`${args[i + 1]}=>${args[i + 2]}`] : []));
    expect(writable.sort()).toEqual(['/data/machines/s1/home=>/home/agent', '/data/machines/s1/run=>/run/catty', '/data/machines/s1/tmp=>/tmp', '/data/machines/s1/workspace=>/workspace']);
    const dataMounts = args.filter((a) => a.startsWith('/data')).filter((a) => !a.startsWith('/data/machines/s1/'));
    expect(dataMounts).toEqual([]);
    expect(joined).toContain(`--ro-bind ${ROOT}/node_modules ${ROOT}/node_modules`);
    expect(joined).not.toContain(`--ro-bind ${ROOT} `);
    expect(joined).not.toContain('/etc/shadow');
    expect(args.slice(-3)).toEqual(['--', '/usr/bin/node', `${ROOT}/dist/session-runtime/bin.js`]);
  });

  it('mounts the package and node after the private /tmp and home, so a checkout under /tmp stays visible', () => {
    const checkout = mkdtempSync('/tmp/catty-checkout-');
    try {
      writeFileSync(join(checkout, 'package.json'), '{}');
      const inTmp = bwrapArgs(
        { workspace: '/d/w', tmp: '/d/t', home: '/d/h', run: '/d/r', passwdFile: '/d/p', groupFile: '/d/g', packageRoot: checkout, nodePath: '/tmp/node-v20/bin/node' },
        ['/tmp/node-v20/bin/node', `${checkout}/dist/session-runtime/bin.js`],
      );
      const at = (a: string, b: string) => inTmp.findIndex((x, i) => x === a && inTmp[i + 1] === b);
      const privateTmp = at('--bind', '/d/t');
      expect(privateTmp).toBeGreaterThan(-1);
      expect(at('--ro-bind', '/tmp/node-v20/bin')).toBeGreaterThan(privateTmp);
      expect(at('--ro-bind', join(checkout, 'package.json'))).toBeGreaterThan(privateTmp);
    } finally {
      rmSync(checkout, { recursive: true, force: true });
    }
  });
});
