// P7 (runtime side): idle VmRSS of a built catty-session after a small upload, with the echo
// fixture agent running and no client attached. Median of 3 runtimes.
// Usage: npm run build && node tests/bench/runtime-idle-rss.mjs   (RT_NODE_ARGS="…" to try V8 flags)
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';
import { startBareRuntime } from './lib.mjs';
import { METHOD_STORE, centralHeader, dosDateTime, endOfCentralDirectory, localHeader } from '../../dist/cli/packer/zip-format.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** One stored README.md, written with the CLI's own zip records. */
function tinyZip() {
  const data = Buffer.from('# hello\n');
  const when = dosDateTime(new Date());
  const record = { name: Buffer.from('README.md'), method: METHOD_STORE, crc32: zlib.crc32(data), compressedSize: data.length, size: data.length, offset: 0, mode: 0o644, streamed: false };
  const local = Buffer.concat([localHeader(record, when), data]);
  const central = centralHeader(record, when);
  return Buffer.concat([local, central, endOfCentralDirectory(1, central.length, local.length)]);
}

async function once() {
  const { proc, url, token, stop } = await startBareRuntime([process.execPath, path.join(root, 'tests/fixtures/agents/echo.mjs')], { stderr: 'ignore' });
  const rss = () => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${proc.pid}/status`, 'utf8'))[1]);
  const beforeUpload = rss();
  const res = await fetch(`${url}/upload`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: tinyZip() });
  if (res.status !== 200) throw new Error(`upload: ${res.status} ${await res.text()}`);
  await sleep(5000);
  const idle = rss();
  await stop();
  return { beforeUpload, idle };
}

const runs = [];
for (let i = 0; i < 3; i++) runs.push(await once());
const med = (xs) => [...xs].sort((a, b) => a - b)[1];
console.log(`idle runtime VmRSS: after start ${(med(runs.map((r) => r.beforeUpload)) / 1024).toFixed(1)} MiB, idle after upload ${(med(runs.map((r) => r.idle)) / 1024).toFixed(1)} MiB (samples ${runs.map((r) => (r.idle / 1024).toFixed(1)).join(', ')})`);
