/**
 * Gives a resumed or forked session's new machine its workspace: the verified snapshot, sent
 * by the API to the runtime's one `POST /upload` as SNAPSHOT_MEDIA_TYPE. The API, not the CLI,
 * sends it: the bytes go storage → API → machine without a round trip through the laptop, and
 * only after the API checked them against the checksum the old machine reported.
 */
import fs from 'node:fs';
import { Readable } from 'node:stream';
import { DEFAULT_COLS, DEFAULT_ROWS, RuntimePath } from '../../session-runtime/wire/protocol.js';
import type { RuntimeEndpoint } from '../../session-runtime/wire/runtime-address.js';
import { AGENT_STATE_BYTES_HEADER, SNAPSHOT_MEDIA_TYPE } from '../../session-runtime/wire/restore.js';
import { requestRuntime } from './runtime-client.js';

/** How a resumed or forked session gets its workspace: a verified snapshot the API sends. */
export interface RestoreFrom {
  /** The snapshot's tar.gz in a private temp file, its checksum already checked. */
  file: string;
  size: number;
  /** The agent's state beside it (Claude Code's transcripts), checked too; absent: none. */
  agent?: { file: string; size: number };
}

/** The send and the runtime's extraction, at most (a large workspace on a slow disk). */
const RESTORE_TIMEOUT_MS = 10 * 60_000;
/** The runtime answers a small JSON object (or an error body). */
const MAX_ANSWER_BYTES = 64 * 1024;

export async function sendSnapshot(runtime: RuntimeEndpoint, connectToken: string, snapshot: RestoreFrom): Promise<void> {
  const agent = snapshot.agent;
  // The agent's state, when there is one, follows the workspace's archive in the same body.
  const parts = [snapshot.file, ...(agent ? [agent.file] : [])];
  const body = Readable.from(
    (async function* () {
      for (const part of parts) yield* fs.createReadStream(part);
    })(),
  );
  const res = await requestRuntime(runtime, `${RuntimePath.upload}?cols=${DEFAULT_COLS}&rows=${DEFAULT_ROWS}`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${connectToken}`,
      'content-type': SNAPSHOT_MEDIA_TYPE,
      'content-length': String(snapshot.size + (agent?.size ?? 0)),
      ...(agent ? { [AGENT_STATE_BYTES_HEADER]: String(agent.size) } : {}),
    },
    body,
    timeoutMs: RESTORE_TIMEOUT_MS,
    maxBytes: MAX_ANSWER_BYTES,
  });
  if (res.status !== 200) throw new Error(`the new machine refused the snapshot (HTTP ${res.status}): ${res.body.toString('utf8').slice(0, 300)}`);
}
