#!/usr/bin/env node
// `npm run bench` runs every metric of PERFORMANCE.md; `npm run bench -- P4` runs some. Each
// metric runs catty and its baseline in the same run, on this machine, and reports medians
// (and p99 where the target says so). Prints one markdown table, writes bench-results.json with
// the raw samples, and exits non-zero when a target is missed.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { generateTree } from './fixture-tree.mjs';
import { ROOT, cattyInstallation, formatTable, tempDir } from './lib.mjs';
import { p1 } from './p1-throughput.mjs';
import { p2 } from './p2-echo.mjs';
import { p3 } from './p3-start.mjs';
import { p4 } from './p4-upload.mjs';
import { p5 } from './p5-sync.mjs';
import { p6 } from './p6-snapshot.mjs';
import { p7 } from './p7-scale.mjs';
import { p8 } from './p8-replicas.mjs';
import { p9 } from './p9-resume.mjs';
import { p10 } from './p10-egress.mjs';

const wanted = new Set(process.argv.slice(2).map((a) => a.toUpperCase()));
const selected = (id) => wanted.size === 0 || wanted.has(id);

// Started for the first metric that needs it: a running control plane (and the spare machine
// it prepares) is load on the cores that P6 and P10, which do not use it, would measure too.
let installation = null;
const needInstallation = async () => (installation ??= await cattyInstallation());
let tree = null;
const needTree = () => (tree ??= generateTree(path.join(tempDir('tree'), 'workspace')));

const metrics = [
  ['P1', async () => p1(await needInstallation())],
  ['P2', async () => p2(await needInstallation())],
  ['P3', async () => p3(await needInstallation())],
  ['P4', async () => p4(await needInstallation(), needTree().root)],
  ['P5', async () => p5(await needInstallation())],
  ['P6', () => p6(needTree().root)],
  ['P7', async () => p7(await needInstallation())],
  // Deployments of its own (Docker, Postgres): no local control plane.
  ['P8', () => p8()],
  ['P9', async () => p9(await needInstallation())],
  ['P10', () => p10()],
];

const results = {};
const rows = [];
try {
  for (const [id, measure] of metrics) {
    if (!selected(id)) continue;
    process.stderr.write(`running ${id}…\n`);
    // Each metric starts with the previous one's writes on disk: P4 and P6 leave hundreds of MB
    // of dirty pages whose writeback otherwise lands in the next metric's timings.
    execFileSync('sync');
    try {
      const result = await measure();
      results[id] = result;
      rows.push(...result.rows);
    } catch (err) {
      results[id] = { error: String(err?.stack ?? err) };
      rows.push({ metric: id, catty: 'error', baseline: '—', ratio: '—', target: '—', pass: false });
      process.stderr.write(`${id} failed: ${err?.message ?? err}\n`);
    }
  }
} finally {
  await installation?.close();
  if (tree) fs.rmSync(path.dirname(tree.root), { recursive: true, force: true });
}

const machine = `${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${new Date().toISOString().slice(0, 10)}`;
const table = formatTable(rows);
process.stdout.write(`${table}\n\nMachine: ${machine}\n`);
fs.writeFileSync(path.join(ROOT, 'bench-results.json'), JSON.stringify({ machine, rows, results }, null, 2));
process.exitCode = rows.every((r) => r.pass) ? 0 : 1;
