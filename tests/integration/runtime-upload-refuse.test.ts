/**
 * An upload refused while its body is still arriving (a second upload → 409, too large → 413):
 * the client must get the answer, not a connection reset.
 */
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildZip } from '../helpers/runtime-zip.js';
import { agentCmd, startRuntime, upload, type RuntimeProcess } from '../helpers/runtime.js';

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

describe('catty-session upload refused mid-body', () => {
  let rt: RuntimeProcess;
  const bigBody = randomBytes(6 * 1024 * 1024);
  beforeAll(async () => {
    rt = await startRuntime({ env: { CATTY_AGENT_CMD: agentCmd('echo.mjs'), CATTY_MAX_UPLOAD_BYTES: String(2 * 1024 * 1024) } });
  });
  afterAll(async () => {
    await rt?.stop();
  });

  it('answers 413 to a declared-too-large body (content-length)', async () => {
    for (let i = 0; i < 3; i++) {
      const res = await post(rt, bigBody);
      expect(res.status).toBe(413);
      expect(res.json.error?.code).toBe('too_large');
    }
  });

  it('answers 413 to a chunked body that grows past the cap', async () => {
    for (let i = 0; i < 3; i++) {
      const res = await post(rt, bigBody, true);
      expect(res.status).toBe(413);
      expect(res.json.error?.code).toBe('too_large');
    }
  });

  it('answers 409 to a multi-MB second upload', async () => {
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
