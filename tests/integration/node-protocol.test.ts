/**
 * A host catty-node of an older protocol (NODE_PROTOCOL was raised: an API upgraded while its
 * node, detached, kept running): the API neither uses it nor starts a second node beside it; its
 * start fails naming the node's pid to stop, and the old node keeps serving its sessions. The old
 * node is its wire answer (GET /healthz with the old protocol on the control socket): an older
 * build of catty-node cannot be built here from this tree.
 */
import fs from 'node:fs';
import http from 'node:http';
import { expect, it } from 'vitest';
import { silentLogger } from '../../api/logger.js';
import { NODE_PROTOCOL } from '../../api/node/contract.js';
import { connectOrStartNode } from '../../api/node/launch.js';
import { controlSocketOf, nodeDirOf, pidFileOf } from '../../api/node/paths.js';
import { createSessionEgress } from '../../api/services/egress.js';
import { openDatabase } from '../../api/state/db.js';
import { onCleanup } from '../helpers/cleanup.js';
import { tempDir } from '../helpers/temp-dir.js';

it('an older host node: the API refuses it with the pid to stop, starts no other, and the old one serves on', async () => {
  const dataDir = tempDir('node-protocol');
  const nodeDir = nodeDirOf(dataDir);
  fs.mkdirSync(nodeDir, { recursive: true, mode: 0o700 });
  const OLD_PID = 424242;
  let asked = 0;
  const old = http.createServer((req, res) => {
    asked++;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ protocol: NODE_PROTOCOL - 1, pid: OLD_PID, instance: 'old', sessions: 3 }));
  });
  await new Promise<void>((resolve) => old.listen(controlSocketOf(nodeDir), resolve));
  onCleanup(() => new Promise((resolve) => old.close(resolve)));

  const message = new RegExp(`speaks protocol ${NODE_PROTOCOL - 1}, not ${NODE_PROTOCOL}: stop it \\(kill ${OLD_PID};`);
  await expect(connectOrStartNode({ nodeDir, logger: silentLogger(), inProcess: true })).rejects.toThrow(message);
  const db = await openDatabase(':memory:');
  onCleanup(() => db.close());
  const egress = createSessionEgress({ dataDir, db, logger: silentLogger(), inProcessNode: true });
  await expect(egress.start()).rejects.toThrow(message);
  // No node started beside it (none took the pid file), and the old one still answers.
  expect(fs.existsSync(pidFileOf(nodeDir))).toBe(false);
  const before = asked;
  await expect(connectOrStartNode({ nodeDir, logger: silentLogger(), inProcess: true })).rejects.toThrow(message);
  expect(asked).toBeGreaterThan(before);
  await egress.shutdown();
});
