/** What every route and service gets instead of importing globals. */
import type { Config } from './config.js';
import type { Logger } from './logger.js';
import type { Provisioner } from './provisioners/types.js';
import type { SessionEgress } from './services/egress.js';
import type { Db } from './state/db.js';
import type { ObjectStorage } from './storage/types.js';

export interface Deps {
  config: Config;
  db: Db;
  /** The at-rest key for connect tokens. */
  key: Buffer;
  provisioner: Provisioner;
  /** Each session's egress proxy listener and its refusals. */
  egress: SessionEgress;
  storage: ObjectStorage;
  logger: Logger;
  /** Milliseconds since the epoch; tests move it. */
  now: () => number;
  /** The API's own base URL (public URL, or the bound address once known). */
  publicUrl: () => string;
  /** The API base URL as reachable from inside a machine. */
  machineApiUrl: () => string;
  /** Pending async work (machine stops) that shutdown and tests await. */
  background: Set<Promise<unknown>>;
}

export interface AppVariables {
  requestId: string;
  userId: string;
  /** Set by the machine-token middleware (and the share-link one: the shared session). */
  sessionId: string;
  /** How the user authenticated: an access token, or a browser's cookie + CSRF header. */
  via: 'token' | 'browser';
  /** Set by the share-link middleware. */
  shareId: string;
  shareExpiresAt: string;
}

export type AppEnv = { Variables: AppVariables };
