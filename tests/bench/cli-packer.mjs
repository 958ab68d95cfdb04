// P4 (CLI side): walk + ignore + zip + stream a seeded 100 MB / 6,000-file tree to a loopback
// sink, against `tar -cf - . | gzip -1` of the same tree, median of 3 runs each.
// Usage: npm run build && node tests/bench/cli-packer.mjs   (exits 1 when the ratio > 2)
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { walkWorkspace } from '../../dist/cli/packer/walk.js';
import { uploadWorkspace } from '../../dist/cli/packer/upload.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'catty-bench-packer-'));
let seed = 42;
const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
const words = 'const let function return import export from class interface type async await if else for while new this value data result error'.split(' ');
for (let i = 0; i < 6000; i++) {
  const dir = path.join(root, `d${i % 40}`, `s${i % 7}`);
  fs.mkdirSync(dir, { recursive: true });
  const size = Math.floor(4000 + rnd() * 26000);
  if (i % 20 === 0) {
    const buf = Buffer.alloc(size);
    for (let j = 0; j < size; j++) buf[j] = Math.floor(rnd() * 256);
    fs.writeFileSync(path.join(dir, `f${i}.png`), buf);
  } else {
    let s = '';
    while (s.length < size) s += words[Math.floor(rnd() * words.length)] + (rnd() < 0.1 ? '\n' : ' ');
    fs.writeFileSync(path.join(dir, `f${i}.ts`), s.slice(0, size));
  }
}

const sink = http.createServer((req, res) => {
  let n = 0;
  req.on('data', (c) => (n += c.length));
  req.on('end', () => res.end(JSON.stringify({ ok: true, files: 0, bytes: n })));
});
await new Promise((r) => sink.listen(0, '127.0.0.1', r));
const url = `http://127.0.0.1:${sink.address().port}`;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const catty = [];
let peakRss = 0;
const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 20);
for (let run = 0; run < 3; run++) {
  const t0 = process.hrtime.bigint();
  const walk = await walkWorkspace(root, { ignoreGit: false });
  await uploadWorkspace(walk, { connectUrl: url, connectToken: 'x', cols: 80, rows: 24, maxBytes: 1e9 });
  catty.push(Number(process.hrtime.bigint() - t0) / 1e6);
}
clearInterval(sampler);
const baseline = [];
for (let run = 0; run < 3; run++) {
  const t0 = process.hrtime.bigint();
  execFileSync('sh', ['-c', 'tar -cf - . | gzip -1 > /dev/null'], { cwd: root });
  baseline.push(Number(process.hrtime.bigint() - t0) / 1e6);
}
sink.close();
fs.rmSync(root, { recursive: true, force: true });
const ratio = median(catty) / median(baseline);
console.log(`P4-cli  catty ${median(catty).toFixed(0)} ms  baseline ${median(baseline).toFixed(0)} ms  ratio ${ratio.toFixed(2)}  target <= 2  peak RSS ${(peakRss / 2 ** 20).toFixed(0)} MiB (in-process, sink included)`);
process.exit(ratio <= 2 ? 0 : 1);
