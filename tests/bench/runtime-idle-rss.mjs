// P7 (runtime side): idle VmRSS of a built catty-session after a small upload, with the echo
// fixture agent running and no client attached. Median of 3 runtimes.
// Usage: npm run build && node tests/bench/runtime-idle-rss.mjs   (RT_NODE_ARGS="…" to try V8 flags)
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';
import { startBareRuntime } from './lib.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function tinyZip() {
  const data = Buffer.from('# hello\n');
  const name = Buffer.from('README.md');
  const local = Buffer.alloc(30);
  local.writeUInt32LE(0x04034b50, 0);
  local.writeUInt16LE(20, 4);
  local.writeUInt32LE(zlib.crc32(data), 14);
  local.writeUInt32LE(data.length, 18);
  local.writeUInt32LE(data.length, 22);
  local.writeUInt16LE(name.length, 26);
  const central = Buffer.alloc(46);
  central.writeUInt32LE(0x02014b50, 0);
  central.writeUInt16LE(20, 4);
  central.writeUInt16LE(20, 6);
  central.writeUInt32LE(zlib.crc32(data), 16);
  central.writeUInt32LE(data.length, 20);
  central.writeUInt32LE(data.length, 24);
  central.writeUInt16LE(name.length, 28);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(1, 8);
  end.writeUInt16LE(1, 10);
  end.writeUInt32LE(46 + name.length, 12);
  end.writeUInt32LE(30 + name.length + data.length, 16);
  return Buffer.concat([local, name, data, central, name, end]);
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
