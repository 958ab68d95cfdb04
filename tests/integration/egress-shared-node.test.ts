/**
 * Replicas sharing one host catty-node (shared mode on Docker: one data dir): when one replica
 * resyncs the node (its start, or the node replaced), it must not close the listener of a live
 * session another replica opened — that session's agent would lose its way out with nobody
 * knowing. A session that is not live in the database is closed as before.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../api/logger.js';
import { createSessionEgress } from '../../api/services/egress.js';
import { createUser } from '../../api/services/users.js';
import { insertSession, updateSession } from '../../api/state/sessions.js';
import { makeTestDeps } from '../helpers/api-fakes.js';
import { onCleanup } from '../helpers/cleanup.js';
import { policy, viaProxy } from '../helpers/egress.js';
import { tempDir } from '../helpers/temp-dir.js';

const T0 = '2026-01-01T00:00:00.000Z';

describe('two replicas on one host node', () => {
  it("a replica's resync leaves another replica's live session listening, and closes one that ended", async () => {
    const deps = await makeTestDeps();
    onCleanup(() => deps.db.close());
    const alice = await createUser(deps, 'alice@example.com', 'password-alice');
    const [mine, theirs, ended] = ['a1'.repeat(12), 'b2'.repeat(12), 'c3'.repeat(12)];
    for (const id of [mine, theirs, ended]) {
      await insertSession(deps.db, { id, owner_id: alice.id, label: `l-${id}`, status: 'running', agent: 'shell', provisioner: 'docker', connect_token_enc: 'sealed', ttl_sec: 600, created_at: T0, last_activity_at: T0 });
    }
    const dataDir = tempDir('shared-node');
    const [a, b] = [0, 1].map(() => createSessionEgress({ dataDir, db: deps.db, logger: silentLogger(), inProcessNode: true, flushMs: 20 }));
    await a!.start();
    await b!.start();
    onCleanup(async () => {
      await b!.shutdown();
      await a!.shutdown();
    });
    await a!.open(mine, policy('none'));
    const theirDir = await b!.open(theirs, policy('none'));
    const endedDir = await b!.open(ended, policy('none'));
    await updateSession(deps.db, ended, { status: 'stopped', ended_at: T0 });

    // A resyncs the node knowing only its own session (as after the node was replaced).
    await a!.restore([{ id: mine, policy: policy('none') }]);

    expect((await viaProxy(path.join(theirDir, 'proxy.sock'), 'http://refused.example/')).status).toBe(403);
    expect(existsSync(path.join(endedDir, 'proxy.sock'))).toBe(false);
  }, 30_000);
});
