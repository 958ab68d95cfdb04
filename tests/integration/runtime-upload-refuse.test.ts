/**
 * An upload refused while its body is still arriving (a second upload → 409, too large → 413):
 * the client must get the answer, not a connection reset. And one cut mid-body leaves nothing
 * of what was extracted while it arrived.
 */
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { describe, expect } from 'vitest';
import { test, testWithRuntime } from '../helpers/fixtures.js';
import { buildZip } from '../helpers/runtime-zip.js';
import { agentCmd, upload, type RuntimeProcess } from '../helpers/runtime.js';
import { waitFor } from '../helpers/wait.js';

/** POSTs `body` with http.request in 64 KiB writes (chunked when `chunked`), returns status + JSON. */
function post(rt: RuntimeProcess, body: Buffer, chunked = false): Promise<{ status: number; json: { error?: { code: string } } }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { ...rt.headers({ 'content-type': 'application/zip' }) };
    if (!chunked) headers['content-length'] = body.length;
    const req = http.request(`${rt.url}/upload`, { method: 'POST', headers }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) as { error?: { code: string } } }));
      res.on('error', reject);
    });
    req.on('error', reject);
    let offset = 0;
    const writeMore = (): void => {
      while (offset < body.length) {
        const chunk = body.subarray(offset, offset + 64 * 1024);
        offset += chunk.length;
        if (!req.write(chunk)) return void req.once('drain', writeMore);
      }
      req.end();
    };
    writeMore();
  });
}

/** One runtime for the next three tests: refusals leave it waiting, until the last one's upload. */
const it = testWithRuntime({ env: { CATTY_AGENT_CMD: agentCmd('echo.mjs'), CATTY_MAX_UPLOAD_BYTES: String(2 * 1024 * 1024) } });

describe('catty-session upload refused mid-body', () => {
  const bigBody = randomBytes(6 * 1024 * 1024);

  it('answers 413 to a declared-too-large body (content-length)', async ({ runtime: rt }) => {
    for (let i = 0; i < 3; i++) {
      const res = await post(rt, bigBody);
      expect(res.status).toBe(413);
      expect(res.json.error?.code).toBe('too_large');
    }
  });

  it('answers 413 to a chunked body that grows past the cap', async ({ runtime: rt }) => {
    for (let i = 0; i < 3; i++) {
      const res = await post(rt, bigBody, true);
      expect(res.status).toBe(413);
      expect(res.json.error?.code).toBe('too_large');
    }
  });

  it('answers 409 to a multi-MB second upload', async ({ runtime: rt }) => {
    const first = await upload(rt, buildZip([{ name: 'a.txt', data: 'a' }]));
    expect(first.status).toBe(200);
    for (let i = 0; i < 3; i++) {
      const res = await post(rt, bigBody);
      expect(res.status).toBe(409);
      expect(res.json.error?.code).toBe('already_uploaded');
      const chunked = await post(rt, bigBody, true);
      expect(chunked.status).toBe(409);
    }
  });
});

describe('catty-session upload cut mid-body', () => {
  test('removes what was extracted while it arrived, keeps waiting, and takes the whole upload after', async ({ startRuntime }) => {
    const rt = await startRuntime({ env: { CATTY_AGENT_CMD: agentCmd('echo.mjs') } });
    const entries = Array.from({ length: 300 }, (_, i) => ({ name: `dir${i % 7}/file${i}.txt`, data: randomBytes(3000).toString('hex'), deflate: true }));
    const zip = buildZip(entries);
    const req = http.request(`${rt.url}/upload`, { method: 'POST', headers: { ...rt.headers({ 'content-type': 'application/zip' }), 'content-length': zip.length } });
    req.on('error', () => undefined);
    req.write(zip.subarray(0, Math.floor(zip.length * 0.7)));
    // The fast path is writing files before the body is complete…
    await waitFor(() => fs.readdirSync(rt.workspace).length > 0, 'files extracted while the body arrives');
    req.destroy();
    // …and removes every one of them when it is cut.
    await waitFor(() => fs.readdirSync(rt.workspace).length === 0, 'the partial extraction removed');
    const health = (await (await fetch(`${rt.url}/healthz`)).json()) as { uploaded: boolean };
    expect(health.uploaded).toBe(false);
    // The cut upload may still be finishing its clean-up (409 upload_in_progress meanwhile).
    const res = await waitFor(async () => {
      const attempt = await upload(rt, zip);
      return attempt.status === 409 && JSON.stringify(attempt.json).includes('upload_in_progress') ? undefined : attempt;
    }, 'the next upload taken');
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ ok: true, files: 300 });
    expect(fs.readFileSync(path.join(rt.workspace, 'dir3/file10.txt'), 'utf8')).toBe(entries[10]!.data);
  });
});
