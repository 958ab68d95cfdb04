/**
 * The seam between the two upgrade paths: the browsers' (browser.ts) authorizes its own way, then
 * hands the upgrade to the CLI's (upgrade.ts), which opens the runtime's `/connect` and pairs the
 * sockets. Its own module so neither path imports the other.
 */
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import type { WebSocketServer } from 'ws';
import type { RuntimeEndpoint } from '../../session-runtime/wire/runtime-address.js';
import type { PairOptions, RelayPair } from './ws-relay.js';

/** An authorized upgrade, ready to be relayed to its runtime. */
export interface RelayTo {
  sessionId: string;
  runtime: RuntimeEndpoint;
  connectToken: string;
  /** The runtime's `/connect` with its query. */
  pathAndQuery: string;
  /** Completes the client's upgrade (the browsers' answers a subprotocol). */
  server: WebSocketServer;
  pairOptions: PairOptions;
  /** Called once: with the pair when relaying started, with null when it did not. */
  onDone?: (pair: RelayPair | null) => void;
}

export type RelayToRuntime = (req: http.IncomingMessage, socket: Duplex, head: Buffer, to: RelayTo) => void;
