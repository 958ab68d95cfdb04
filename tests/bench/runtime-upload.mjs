// P4 (runtime side): POST /upload of the CLI packer's zip of the seeded 100 MB / 6,000-file tree
// to a built catty-session, timed until the answer (and until healthz says the agent runs),
// against `tar -xzf` of the same tree (tar | gzip -1 made beforehand). Median of 3 each.
// Usage: npm run build && node tests/bench/runtime-upload.mjs [runs]
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { generateTree } from './fixture-tree.mjs';
import { startBareRuntime } from './lib.mjs';
import { walkWorkspace } from '../../dist/cli/packer/walk.js';
import { zipFiles } from '../../dist/cli/packer/zip.js';

const runs = Number(process.argv[2] ?? 3);
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'catty-bench-rtupload-'));
const tree = path.join(work, 'tree');
fs.mkdirSync(tree);
generateTree(tree);
const walk = await walkWorkspace(tree, { ignoreGit: true });
const zipFile = path.join(work, 'tree.zip');
await pipeline(zipFiles(walk.files).stream, fs.createWriteStream(zipFile));
const tgz = path.join(work, 'tree.tgz');
execFileSync('sh', ['-c', `tar -cf - . | gzip -1 > '${tgz}'`], { cwd: tree });
console.log(`tree: ${walk.files.length} files; zip ${(fs.statSync(zipFile).size / 1e6).toFixed(1)} MB; tgz ${(fs.statSync(tgz).size / 1e6).toFixed(1)} MB`);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const startRuntime = () => startBareRuntime(['sleep', '600'], { env: { CATTY_MAX_UPLOAD_BYTES: String(500 * 1024 * 1024) } });

function postFile(rt, file) {
  return new Promise((resolve, reject) => {
    const req = http.request(`${rt.url}/upload`, { method: 'POST', headers: { authorization: `Bearer ${rt.token}`, 'content-type': 'application/zip', 'content-length': fs.statSync(file).size } }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => (res.statusCode === 200 ? resolve(text) : reject(new Error(`${res.statusCode} ${text}`))));
    });
    req.on('error', reject);
    fs.createReadStream(file).pipe(req);
  });
}

const ours = [];
const theirs = [];
for (let i = 0; i < runs; i++) {
  const dest = path.join(work, `tar-${i}`);
  fs.mkdirSync(dest);
  let t0 = performance.now();
  execFileSync('tar', ['-xzf', tgz, '-C', dest]);
  theirs.push(performance.now() - t0);
  fs.rmSync(dest, { recursive: true, force: true });

  const rt = await startRuntime();
  execFileSync('sync');
  t0 = performance.now();
  await postFile(rt, zipFile);
  const ms = performance.now() - t0;
  ours.push(ms);
  console.log(`run ${i}: tar -xzf ${theirs[i].toFixed(0)} ms, /upload ${ms.toFixed(0)} ms`);
  await rt.stop();
}
console.log(`median: tar -xzf ${median(theirs).toFixed(0)} ms, /upload ${median(ours).toFixed(0)} ms (ratio ${(median(ours) / median(theirs)).toFixed(2)})`);
fs.rmSync(work, { recursive: true, force: true });
