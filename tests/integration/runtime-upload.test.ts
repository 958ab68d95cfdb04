/**
 * POST /upload against the built catty-session: the happy path and auth. The hostile archives
 * (SECURITY.md 1–8) are in tests/security/archives.test.ts.
 */
import fs from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { ZipArchive } from 'archiver';
import { describe, expect } from 'vitest';
import { testWithRuntime } from '../helpers/fixtures.js';
import { TestClient, agentCmd, upload } from '../helpers/runtime.js';

async function archiverZip(files: { name: string; data: string | Buffer; mode?: number }[]): Promise<Buffer> {
  const archive = new ZipArchive({ zlib: { level: 1 } });
  const sink = new PassThrough();
  const chunks: Buffer[] = [];
  sink.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise<void>((resolve, reject) => {
    sink.on('end', () => resolve());
    archive.on('error', reject);
  });
  archive.pipe(sink);
  for (const f of files) archive.append(f.data, { name: f.name, mode: f.mode });
  await archive.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** One runtime for the file: the first test's refusal must leave it waiting for its upload. */
const it = testWithRuntime({ env: { CATTY_AGENT_CMD: agentCmd('echo.mjs'), CATTY_MAX_UPLOAD_BYTES: String(8 * 1024 * 1024) } });

describe('catty-session upload', () => {
  it('refuses a wrong token', async ({ runtime: rt }) => {
    const res = await fetch(`${rt.url}/upload`, { method: 'POST', headers: { authorization: 'Bearer nope' }, body: 'x' });
    expect(res.status).toBe(401);
  });

  it('accepts a correct upload after the rejected ones, starts the agent, then answers 409', async ({ runtime: rt }) => {
    const zip = await archiverZip([
      { name: 'README.md', data: '# hi\n' },
      { name: 'src/main.sh', data: '#!/bin/sh\necho hi\n', mode: 0o755 },
      { name: 'src/deep/data.bin', data: Buffer.from([0, 1, 2, 255]) },
    ]);
    const res = await upload(rt, zip, '?cols=120&rows=40');
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ ok: true, files: 3, bytes: 5 + 18 + 4 });
    expect(fs.readFileSync(path.join(rt.workspace, 'README.md'), 'utf8')).toBe('# hi\n');
    expect(fs.statSync(path.join(rt.workspace, 'src/main.sh')).mode & 0o111).not.toBe(0);
    expect(fs.statSync(path.join(rt.workspace, 'README.md')).mode & 0o111).toBe(0);
    expect([...fs.readFileSync(path.join(rt.workspace, 'src/deep/data.bin'))]).toEqual([0, 1, 2, 255]);
    // archiver's zip (deflated with data descriptors) is extracted while it arrives.
    expect(rt.stderr()).toMatch(/upload: 3 files, 27 bytes; received in \d+ ms, extracted while receiving/);
    const health = (await (await fetch(`${rt.url}/healthz`)).json()) as { uploaded: boolean; agent: string };
    expect(health).toMatchObject({ uploaded: true, agent: 'running' });
    const c = new TestClient(rt);
    await c.opened;
    await c.waitForText('READY');
    c.send(Buffer.from('size\r'));
    await c.waitForText('SIZE 120x40');
    const again = await upload(rt, zip);
    expect(again.status).toBe(409);
  });
});
