/**
 * The clients attached to one session's relay (issue 24): the laptop's CLI and browsers, what
 * each may do, and the `control` message each is told. The relay (relay.ts) keeps the set and
 * the output path; the rules of who may type live here so they read in one place:
 *
 * - the CLI (`client=cli`, not read-only) replaces an earlier CLI, takes control when it
 *   attaches, and is the only kind that may ask for sync-back and git_home: `file_change` never
 *   reaches a browser, and a browser never ends the laptop's sync-back;
 * - a browser attaches as a watcher and takes control only by asking (`take_control`);
 * - a read-only client (a share link) never types, resizes or takes control, whatever its kind.
 */
import type { ClientSocket } from './client-socket.js';
import type { FramePool } from './output-log.js';
import type { ClientKind, ControlMessage } from './wire/protocol.js';

export interface ClientOptions {
  kind: ClientKind;
  /** A share link's watcher: never input. */
  readonly: boolean;
  /** The client's terminal size from the connect query; applied only if it takes control. */
  cols?: number;
  rows?: number;
}

export class AttachedClient {
  /** Offset of the next byte to send; null until hello is out (no output flows before it). */
  sentOffset: number | null = null;
  /** Binary frames handed to the socket whose send has not called back yet. */
  inFlight = 0;
  /** The agent exited: this client gets the rest of the output, then `exit` and 4001. */
  finishing = false;
  /** In the relay's set; false once it left, was replaced or dropped. */
  attached = true;

  constructor(
    readonly socket: ClientSocket,
    readonly kind: ClientKind,
    readonly readonly: boolean,
    /** The offset the client asked to resume from (its proof of what it received). */
    readonly resumeOffset: number | undefined,
    /** This client's own frame buffers: a frame is never shared between two sends. */
    readonly frames: FramePool,
  ) {}

  /** The laptop's CLI: replaces an earlier CLI, controls at attach, may sync files back. */
  get isCli(): boolean {
    return this.kind === 'cli' && !this.readonly;
  }

  /** May take control (and then type and resize). */
  get mayControl(): boolean {
    return !this.readonly;
  }

  /** Hello has gone out: output, `control` and `resized` may follow. */
  get greeted(): boolean {
    return this.sentOffset !== null;
  }
}

export function controlMessage(recipient: AttachedClient, controller: AttachedClient | null, clients: number): ControlMessage {
  return { type: 'control', controlling: recipient === controller, controller: controller?.kind ?? null, clients };
}
