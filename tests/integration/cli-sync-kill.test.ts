/**
 * SECURITY.md 18: the built catty is SIGKILLed while sync-back is writing; every file is then
 * either its old or a complete new version, never truncated.
 */
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FILE_CHUNK_BYTES, type RuntimeMessage } from '../../session-runtime/protocol.js';
import { FakeApi, loginTo } from '../helpers/cli-fake-api.js';
import { FakeRuntime, type FakeClient } from '../helpers/fake-runtime.js';
import { CATTY_BIN, cliEnv, tempDir, waitUntil } from '../helpers/cli.js';

const LABEL = 'sturdy-mole-0006';
const sha = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');
let api: FakeApi;
let runtime: FakeRuntime;

beforeAll(async () => {
  runtime = await FakeRuntime.start();
  api = await FakeApi.start({ connectUrl: runtime.url, connectToken: runtime.token });
  api.addSession({ label: LABEL });
});
afterAll(async () => {
  await runtime.close();
  await api.close();
});

async function spawnConnected(files: Record<string, Buffer>, script: (client: FakeClient) => Promise<void>) {
  const root = tempDir('kill');
  const home = path.join(root, 'home');
  const local = path.join(root, 'project');
  fs.mkdirSync(local);
  fs.mkdirSync(path.join(home, 'sessions'), { recursive: true });
  fs.writeFileSync(path.join(home, 'sessions', `${LABEL}.json`), JSON.stringify({ label: LABEL, id: 'x', apiUrl: api.url, localDir: local, createdAt: new Date().toISOString() }));
  const manifest: Record<string, { sha256: string; executable: boolean }> = {};
  for (const [rel, content] of Object.entries(files)) {
    fs.writeFileSync(path.join(local, rel), content);
    manifest[rel] = { sha256: sha(content), executable: false };
  }
  fs.writeFileSync(path.join(home, 'sessions', `${LABEL}.manifest.json`), JSON.stringify({ version: 1, files: manifest }));
  await loginTo(home, api);
  runtime.onConnect = (client) => {
    client.hello(0);
    void waitUntil(() => client.control.some((m) => m.type === 'sync_back'), 20_000).then(() => script(client)).catch(() => undefined);
  };
  const child = spawn(process.execPath, [CATTY_BIN, 'connect', LABEL], { env: cliEnv(home, { CATTY_API_URL: api.url }), stdio: ['pipe', 'ignore', 'ignore'] });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  return { child, local, exited };
}

function writeMsg(rel: string, content: Buffer): RuntimeMessage {
  return { type: 'file_change', path: rel, action: 'write', executable: false, size: content.length, sha256: sha(content), content: content.toString('base64') };
}

describe('SECURITY.md 18: killed mid-write', () => {
  it('leaves the old version when killed during a chunked transfer', async () => {
    const old = Buffer.from('the old version\n');
    const next = crypto.randomBytes(FILE_CHUNK_BYTES * 6);
    let chunksSent = 0;
    const { child, local, exited } = await spawnConnected({ 'data.bin': old }, async (client) => {
      client.send({ type: 'file_change', path: 'data.bin', action: 'write', executable: false, size: next.length, sha256: sha(next), chunks: 6, transfer: 1 });
      for (let i = 0; i < 3; i++) {
        client.send({ type: 'file_chunk', transfer: 1, index: i, data: next.subarray(i * FILE_CHUNK_BYTES, (i + 1) * FILE_CHUNK_BYTES).toString('base64') });
        chunksSent++;
      }
      // …and the rest never comes: the CLI is killed while the temp file is half written.
    });
    await waitUntil(() => chunksSent === 3 && fs.readdirSync(local).some((f) => f.includes('.catty-tmp-')), 20_000, 'temp file');
    child.kill('SIGKILL');
    await exited;
    expect(fs.readFileSync(path.join(local, 'data.bin')).equals(old)).toBe(true);
  });

  it('every file is old or one complete new version when killed during a stream of writes', async () => {
    const versions = new Map<string, number>();
    const size = 64 * 1024;
    const make = (i: number) => Buffer.concat([Buffer.from(`version ${String(i).padStart(4, '0')}\n`), Buffer.alloc(size, (i + 251) % 251)]);
    const old = make(-1);
    for (let i = -1; i < 400; i++) versions.set(sha(make(i)), i);
    const names = ['a.bin', 'b.bin', 'c.bin', 'd.bin'];
    let sent = 0;
    const { child, local, exited } = await spawnConnected(Object.fromEntries(names.map((n) => [n, old])), async (client) => {
      for (let i = 0; i < 400; i++) {
        client.send(writeMsg(names[i % names.length] as string, make(i)));
        sent++;
        if (i % 20 === 0) await new Promise((r) => setTimeout(r, 5));
      }
    });
    // Kill once writes are landing.
    await waitUntil(() => sent > 100 && names.some((n) => versions.get(sha(fs.readFileSync(path.join(local, n)))) !== -1), 30_000, 'writes landing');
    child.kill('SIGKILL');
    await exited;
    for (const name of names) {
      const content = fs.readFileSync(path.join(local, name));
      expect(content.length).toBe(old.length);
      expect(versions.has(sha(content))).toBe(true);
    }
  });
});
