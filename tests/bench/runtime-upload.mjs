// P4 (runtime side): POST /upload of the CLI packer's zip of the seeded 100 MB / 6,000-file tree
// to a built catty-session, timed until the answer (and until healthz says the agent runs),
// against `tar -xzf` of the same tree (tar | gzip -1 made beforehand). Median of 3 each.
// Usage: npm run build && node tests/bench/runtime-upload.mjs [runs]
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { generateTree } from './fixture-tree.mjs';
import { walkWorkspace } from '../../dist/cli/packer/walk.js';
import { zipFiles } from '../../dist/cli/packer/zip.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
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

async function startRuntime(dir) {
  const token = randomBytes(16).toString('hex');
  const proc = spawn(process.execPath, [...(process.env.RT_NODE_ARGS ?? '').split(' ').filter(Boolean), path.join(root, 'dist/session-runtime/bin.js')], {
    env: { PATH: process.env.PATH, CATTY_WORKSPACE: path.join(dir, 'ws'), CATTY_LISTEN: '127.0.0.1:0', CATTY_CONNECT_TOKEN: token, CATTY_AGENT_HOME: path.join(dir, 'home'), CATTY_AGENT_CMD: JSON.stringify(['sleep', '600']), CATTY_MAX_UPLOAD_BYTES: String(500 * 1024 * 1024) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise((resolve) => {
    let out = '';
    proc.stdout.on('data', (d) => {
      out += d;
      const m = /(http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]);
    });
  });
  return { proc, url, token, stop: () => { proc.kill('SIGTERM'); return new Promise((r) => proc.once('exit', r)); } };
}

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

  const dir = path.join(work, `rt-${i}`);
  fs.mkdirSync(path.join(dir, 'ws'), { recursive: true });
  const rt = await startRuntime(dir);
  execFileSync('sync');
  t0 = performance.now();
  await postFile(rt, zipFile);
  const ms = performance.now() - t0;
  ours.push(ms);
  console.log(`run ${i}: tar -xzf ${theirs[i].toFixed(0)} ms, /upload ${ms.toFixed(0)} ms`);
  await rt.stop();
  fs.rmSync(dir, { recursive: true, force: true });
}
console.log(`median: tar -xzf ${median(theirs).toFixed(0)} ms, /upload ${median(ours).toFixed(0)} ms (ratio ${(median(ours) / median(theirs)).toFixed(2)})`);
fs.rmSync(work, { recursive: true, force: true });
