/**
 * The session runtime's wire contract: the single source of truth for everything that crosses
 * between a client (the catty CLI, or the API relaying for it) and `catty-session`.
 *
 * Part of the seam (session-runtime/wire/): it imports nothing outside this folder, so the CLI,
 * the API and the runtime can all depend on it without pulling each other in. Errors are the
 * one {@link ErrorBody} of ./errors.ts; the names a provisioner hands the runtime are in
 * ./runtime-env.ts.
 *
 * Transport:
 * - `GET  /healthz`                      → {@link Health}
 * - `POST /upload?cols=C&rows=R`         raw `application/zip` body (the CLI's workspace), once;
 *                                        → {@link UploadResult}. For `catty resume`/`fork` the API
 *                                        sends instead an `application/gzip` body: the verified
 *                                        snapshot's tar.gz, then the agent state part, whose length
 *                                        the `x-catty-agent-state-bytes` header gives (see restore.ts)
 * - `GET  /logs`                         → the last output bytes (`application/octet-stream`)
 * - `POST /snapshot`                     takes a snapshot now (serialised with the schedule's) and
 *                                        answers once it is stored and reported; → {@link SnapshotResult}
 * - `GET  /git-bundle?max=N`               the agent's branches as a git bundle (see "Git" below)
 * - `GET  /files`                        → {@link FileTree}: the workspace and what the agent changed
 * - `GET  /files/diff?path=P`            → {@link FileDiff}: one file against its upload/restore base
 * - `WS   /connect?offset=N&cols=C&rows=R[&client=cli|browser][&readonly=1]`
 *     binary frames, client → runtime: keystrokes for the PTY
 *     binary frames, runtime → client: terminal output, contiguous from the offset in `hello`
 *     text frames, both ways: one JSON {@link ClientMessage} / {@link RuntimeMessage} each
 *   Heartbeats are WebSocket ping/pong frames. Upload, logs, snapshot and connect take
 *   `Authorization: Bearer <connect token>`.
 */
import * as z from './zod.js';

export const PROTOCOL_VERSION = 1;

/** The runtime's paths (relative to its base URL, or to the API's relay prefix for it). */
export const RuntimePath = {
  health: '/healthz',
  upload: '/upload',
  logs: '/logs',
  snapshot: '/snapshot',
  connect: '/connect',
  gitBundle: '/git-bundle',
  files: '/files',
  fileDiff: '/files/diff',
} as const;

/** WebSocket close codes. 4000, 4001 and 4003 tell a client not to reconnect. */
export const CloseCode = {
  normal: 1000,
  goingAway: 1001,
  invalidFrame: 1008,
  tooBig: 1009,
  replaced: 4000,
  sessionEnded: 4001,
  /** Issue 24, sent by the API's relay to a browser: the grant it connected with ended while it
   * was open (its share link revoked or expired, its web session logged out or expired). The
   * session may well be running; reconnecting with the same grant is refused. */
  accessEnded: 4003,
} as const;

/** Largest WebSocket message either side accepts (ws `maxPayload`). Bigger → close 1009. */
export const MAX_FRAME_BYTES = 4 * 1024 * 1024;
/** A file up to this size travels in one `file_change`; above it, in `file_chunk`s of this size. */
export const FILE_CHUNK_BYTES = 1024 * 1024;
/** Files above this size are announced with `file_skipped` instead of being sent. */
export const DEFAULT_MAX_SYNC_FILE_BYTES = 50 * 1024 * 1024;
/** Terminal size when the client sends none. */
export const DEFAULT_COLS = 80;
export const DEFAULT_ROWS = 24;

// ---------------------------------------------------------------------------------------------
// Client → runtime (text frames)

const dimension = z.int().check(z.gte(1), z.lte(1000));

export const ResizeMessage = z.strictObject({
  type: z.literal('resize'),
  /** Terminal width in columns. */
  cols: dimension,
  /** Terminal height in rows. */
  rows: dimension,
});

export const SyncBackMessage = z.strictObject({
  type: z.literal('sync_back'),
  /** true: send `file_change` for every workspace change (and the ones pending since the last
   * client left); false: stop sending them. Off until a client asks. */
  enabled: z.boolean(),
});

/** Issue 23 (see "Git" below): the client brings the agent's branches home when the agent
 * exits, so the runtime holds the end of the session until this client's `GET /git-bundle`
 * has come and been answered (bounded). Off until a client asks. */
export const GitHomeMessage = z.strictObject({
  type: z.literal('git_home'),
  enabled: z.boolean(),
});

/** Issue 24: this client takes the input (the PTY's keystrokes and its size); the one that had it
 * becomes a watcher (a `control` message tells everyone). Refused (ignored) from a `readonly`
 * client. */
export const TakeControlMessage = z.strictObject({
  type: z.literal('take_control'),
});

export const ClientMessage = z.discriminatedUnion('type', [ResizeMessage, SyncBackMessage, GitHomeMessage, TakeControlMessage]);
export type ClientMessage = z.infer<typeof ClientMessage>;

// ---------------------------------------------------------------------------------------------
// Runtime → client (text frames)

export const HelloMessage = z.strictObject({
  type: z.literal('hello'),
  protocol: z.literal(PROTOCOL_VERSION),
  /** Output offset of the first byte of the next binary frame. Equals the client's `offset`
   * when the bytes it missed are still in the log (exact resume); otherwise the log's current
   * end, and `screen` carries the current screen instead. */
  offset: z.int().check(z.nonnegative()),
  /** Present when the client's offset was too old (or absent on a re-attach with history):
   * a serialized terminal screen to paint before the live stream. */
  screen: z.optional(z.string()),
  /** Whether the agent process is still running. */
  agentRunning: z.boolean(),
  /** Terminal size the PTY has now. */
  cols: dimension,
  rows: dimension,
});

export const ExitMessage = z.strictObject({
  type: z.literal('exit'),
  /** The agent's exit code; null when it was killed by a signal. */
  code: z.nullable(z.int()),
  /** The signal number that killed the agent, or null. */
  signal: z.nullable(z.int()),
});

export const ErrorMessage = z.strictObject({
  type: z.literal('error'),
  /** Machine-readable code, e.g. `invalid_frame`, `replaced`, `agent_failed`. */
  code: z.string(),
  /** One human-readable line. */
  message: z.string(),
});

/** A relative POSIX path inside the workspace as the runtime sees it. The CLI validates it
 * again as hostile input (SECURITY.md 10–12) before touching the disk. */
const workspacePath = z.string().check(z.minLength(1), z.maxLength(4096));
const sha256Hex = z.string().check(z.regex(/^[0-9a-f]{64}$/));

export const FileChangeMessage = z.strictObject({
  type: z.literal('file_change'),
  /** Relative POSIX path of the changed file. */
  path: workspacePath,
  /** `write`: the file's new content follows; `delete`: the file is gone. */
  action: z.enum(['write', 'delete']),
  /** For writes: whether the owner-executable bit is set. Nothing else of the mode travels. */
  executable: z.optional(z.boolean()),
  /** For writes: total size in bytes. */
  size: z.optional(z.int().check(z.nonnegative())),
  /** For writes: sha256 (hex) of the whole content. */
  sha256: z.optional(sha256Hex),
  /** For writes up to FILE_CHUNK_BYTES: the whole content, base64. */
  content: z.optional(z.string()),
  /** For larger writes: the content follows in this many `file_chunk` messages with the same
   * `transfer` id, in order, before any other file message. */
  chunks: z.optional(z.int().check(z.positive())),
  /** Transfer id that ties `file_chunk`s to this message. */
  transfer: z.optional(z.int().check(z.nonnegative())),
});

export const FileChunkMessage = z.strictObject({
  type: z.literal('file_chunk'),
  /** The `transfer` id of the `file_change` this chunk belongs to. */
  transfer: z.int().check(z.nonnegative()),
  /** 0-based position of this chunk. */
  index: z.int().check(z.nonnegative()),
  /** Up to FILE_CHUNK_BYTES of content, base64. */
  data: z.string(),
});

export const FileSkippedMessage = z.strictObject({
  type: z.literal('file_skipped'),
  /** Relative POSIX path of the file that was not sent. */
  path: workspacePath,
  /** Its size in bytes. */
  size: z.int().check(z.nonnegative()),
  /** Why: `too_large` (over the sync cap) or `unreadable`. */
  reason: z.enum(['too_large', 'unreadable']),
});

/** Issue 23: to the client that said `git_home`, while attached: the agent's branches may have
 * moved (a commit, a new branch); the client fetches `GET /git-bundle` when it likes. */
export const GitMovedMessage = z.strictObject({
  type: z.literal('git_moved'),
});

// ---------------------------------------------------------------------------------------------
// Several clients (issue 24)
//
// `/connect` takes `client=cli` (default) or `client=browser`, and `readonly=1` (a share link:
// never input). Rules:
// - A `cli` client replaces the previous `cli` client (4000, as before); browsers never replace
//   anyone and are never replaced by a CLI.
// - Exactly one client controls input: a `cli` client takes control when it attaches; a browser
//   attaches as a watcher and takes control only with `take_control`. Keystrokes and `resize`
//   from anyone but the controller are dropped; `sync_back` and `git_home` are taken only from
//   `cli` clients, so `file_change` never goes to a browser.
// - The PTY pauses only for the controller's lag. A watcher that falls out of the output log is
//   closed with 1001 and reconnects with a screen.
// - At most MAX_CLIENTS at once; one more is refused (HTTP 429 at the upgrade).

/** Clients attached to one session at once (the CLI and browsers). */
export const MAX_CLIENTS = 16;
export const ClientKind = z.enum(['cli', 'browser']);
export type ClientKind = z.infer<typeof ClientKind>;

/** After `hello` and whenever control or the set of clients changes, to every client. */
export const ControlMessage = z.strictObject({
  type: z.literal('control'),
  /** Whether this client has the input now. */
  controlling: z.boolean(),
  /** Which kind of client has it; null when nobody does (the controller left). */
  controller: z.nullable(ClientKind),
  /** Clients attached now, this one included. */
  clients: z.int().check(z.positive()),
});
export type ControlMessage = z.infer<typeof ControlMessage>;

/** The PTY's size changed (the controller resized): watchers draw at this size. */
export const ResizedMessage = z.strictObject({
  type: z.literal('resized'),
  cols: dimension,
  rows: dimension,
});

export const RuntimeMessage = z.discriminatedUnion('type', [
  ControlMessage,
  ResizedMessage,
  HelloMessage,
  ExitMessage,
  ErrorMessage,
  FileChangeMessage,
  FileChunkMessage,
  FileSkippedMessage,
  GitMovedMessage,
]);
export type RuntimeMessage = z.infer<typeof RuntimeMessage>;
export type HelloMessage = z.infer<typeof HelloMessage>;
export type ExitMessage = z.infer<typeof ExitMessage>;
export type FileChangeMessage = z.infer<typeof FileChangeMessage>;
export type FileChunkMessage = z.infer<typeof FileChunkMessage>;
export type FileSkippedMessage = z.infer<typeof FileSkippedMessage>;

// ---------------------------------------------------------------------------------------------
// Git: the agent's commits coming home (issue 23)
//
// `GET /git-bundle?max=N` (connect token): `git bundle create --branches` of the workspace's
// repository, every branch the agent has and all their history (no prerequisites), as
// `application/x-git-bundle` with a Content-Length. Refusals are an ErrorBody: 404 `no_git`
// (the workspace has no repository: a project that is not one, or uploaded with --no-git),
// 409 `no_branches` (no commit yet), 413 `too_large` (the bundle is over `max` bytes). The
// CLI treats the bundle as hostile input (its own cap, a quarantine repository, fsck).

/** A bundle larger than this is refused unless the client asks for another cap. */
export const DEFAULT_MAX_GIT_BUNDLE_BYTES = 512 * 1024 * 1024;
export const GIT_BUNDLE_CONTENT_TYPE = 'application/x-git-bundle';

// ---------------------------------------------------------------------------------------------
// HTTP bodies

export const Health = z.object({
  ok: z.literal(true),
  /** Whether the one upload has been accepted (or the runtime was started without one). */
  uploaded: z.boolean(),
  /** `waiting` for the upload, `running`, or `exited`. */
  agent: z.enum(['waiting', 'running', 'exited']),
  /** The agent's exit code once it has exited. */
  exitCode: z.nullable(z.int()),
});
export type Health = z.infer<typeof Health>;

export const UploadResult = z.object({
  ok: z.literal(true),
  /** Number of files extracted. */
  files: z.int().check(z.nonnegative()),
  /** Total uncompressed bytes extracted. */
  bytes: z.int().check(z.nonnegative()),
});
export type UploadResult = z.infer<typeof UploadResult>;

export const SnapshotResult = z.object({
  /** uploaded: a new snapshot is the latest; unchanged: the latest already holds this tree;
   * empty: nothing to snapshot; failed: storage did not take it (the latest is older). */
  outcome: z.enum(['uploaded', 'unchanged', 'empty', 'failed']),
});
export type SnapshotResult = z.infer<typeof SnapshotResult>;

// ---------------------------------------------------------------------------------------------
// Files (issue 24): read-only views of the workspace for the browser, through the API

/** Text of one side of a diff is sent up to this size; above it the side is `too_large`. */
export const MAX_DIFF_TEXT_BYTES = 1024 * 1024;
/** The tree lists at most this many entries (`truncated` says when there were more). */
export const MAX_TREE_ENTRIES = 20_000;

/** How a file differs from the base (the upload, or the snapshot a resume/fork restored). */
export const FileChange = z.enum(['added', 'modified', 'deleted']);
export type FileChange = z.infer<typeof FileChange>;

export const FileTreeEntry = z.object({
  /** Relative POSIX path (as the agent named it: hostile text, render as text only). */
  path: z.string(),
  kind: z.enum(['file', 'dir', 'symlink']),
  /** Bytes for files; 0 otherwise. */
  size: z.int().check(z.nonnegative()),
  /** Absent: unchanged (or a directory). Deleted files are listed with their base size. */
  change: z.optional(FileChange),
});
export type FileTreeEntry = z.infer<typeof FileTreeEntry>;

export const FileTree = z.object({
  /** Sorted by path (byte order); `.git/` is not listed. */
  entries: z.array(FileTreeEntry),
  /** More than MAX_TREE_ENTRIES: the rest is not listed (changed files come first). */
  truncated: z.boolean(),
  /** What the changes are against: the upload, a restored snapshot, or nothing (no upload yet). */
  base: z.enum(['upload', 'restore', 'none']),
});
export type FileTree = z.infer<typeof FileTree>;

/** One side of a diff. `text` only when the content is UTF-8 text (no NUL) up to MAX_DIFF_TEXT_BYTES. */
export const FileSide = z.object({
  size: z.int().check(z.nonnegative()),
  sha256: z.string(),
  /** `binary`: not text; `too_large`: over MAX_DIFF_TEXT_BYTES; `not_kept`: the base's content
   * was not kept (over the base store's budget), only its size and hash. */
  kind: z.enum(['text', 'binary', 'too_large', 'not_kept']),
  text: z.optional(z.string()),
});
export type FileSide = z.infer<typeof FileSide>;

export const FileDiff = z.object({
  path: z.string(),
  /** Absent when the file is unchanged (then base and current are the same). */
  change: z.optional(FileChange),
  /** null: the file did not exist in the base (added). */
  base: z.nullable(FileSide),
  /** null: the file is gone (deleted). */
  current: z.nullable(FileSide),
});
export type FileDiff = z.infer<typeof FileDiff>;

/** Parses one text frame from a client; returns null when it is not a valid message. */
export function parseClientMessage(text: string): ClientMessage | null {
  return parseJson(ClientMessage, text);
}

/** Parses one text frame from the runtime; returns null when it is not a valid message. */
export function parseRuntimeMessage(text: string): RuntimeMessage | null {
  return parseJson(RuntimeMessage, text);
}

function parseJson<T>(schema: z.ZodMiniType<T>, text: string): T | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  const result = schema.safeParse(value);
  return result.success ? result.data : null;
}
