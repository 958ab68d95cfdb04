/**
 * Starts the control plane: state, storage (configured S3 or the embedded server), provisioner,
 * the sessions' egress (catty-node, found or started), reconciliation, the HTTP server and the
 * sweeper. `close()` stops them in reverse order and leaves the machines and catty-node running
 * (they outlive the API; the next start finds them).
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createServer } from 'node:http';
import { getRequestListener } from '@hono/node-server';
import { createApp } from './app.js';
import type { Config } from './config.js';
import type { Deps } from './deps.js';
import type { Logger } from './logger.js';
import { LocalProvisioner } from './provisioners/local.js';
import type { Provisioner } from './provisioners/types.js';
import { createRelay } from './relay/index.js';
import { createSessionEgress } from './services/egress.js';
import { reconcileAtStart } from './services/reconcile.js';
import { startSweeper } from './services/sweeper.js';
import { openDatabase, type Db } from './state/db.js';
import { openSealingKey } from './state/key-canary.js';
import { databaseUnreachable } from './state/db-errors.js';
import { startEmbeddedS3, type EmbeddedS3 } from './storage/embedded-s3.js';
import { createS3Storage } from './storage/s3.js';

export interface RunningApi {
  url: string;
  deps: Deps;
  close(): Promise<void>;
}

export interface StartOptions {
  /** Overrides the configured provisioner (tests, the docker provisioner's wiring). */
  provisioner?: Provisioner;
  /** catty-node's server in this process instead of its own (tests that do not care; never the default). */
  inProcessNode?: boolean;
}

async function makeProvisioner(config: Config, logger: Logger): Promise<Provisioner> {
  switch (config.provisioner) {
    case 'local':
      return new LocalProvisioner({ dataDir: config.dataDir, logger, sandbox: config.localSandbox, nice: config.localNice, spare: config.localSpare });
    case 'docker': {
      // Loaded lazily: dockerode and what it pulls in (ssh2, protobufjs; ~190 ms to load here)
      // cost nothing unless Docker is the configured provisioner.
      const { createDockerProvisioner } = await import('./provisioners/docker.js');
      return createDockerProvisioner({ config, logger });
    }
    case 'swarm': {
      const { createSwarmProvisioner } = await import('./provisioners/swarm.js');
      return createSwarmProvisioner({ config, logger });
    }
    default: {
      const never: never = config.provisioner;
      throw new Error(`unknown provisioner ${String(never)}`);
    }
  }
}

export async function startApi(config: Config, logger: Logger, options: StartOptions = {}): Promise<RunningApi> {
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  // First: a database that cannot be used stops the start before anything else is made.
  const db = await openStateDb(config);
  // Shared mode: a key other replicas' rows do not open stops the start (state/key-canary.ts).
  const key = await openSealingKey(config, db, logger).catch(async (err: unknown) => {
    await db.close();
    throw err;
  });
  // One egress proxy for every session, in catty-node: a process of its own that outlives us.
  // Found or started (~0.2 s to its ready line) while storage and the provisioner start.
  const egress = createSessionEgress({ dataDir: config.dataDir, db, logger, logLevel: config.logLevel, inProcessNode: options.inProcessNode });
  const egressStarted = egress.start();
  egressStarted.catch(() => undefined); // awaited below
  let embedded: EmbeddedS3 | null = null;
  if (!config.s3.endpoint) {
    embedded = await startEmbeddedS3(config.dataDir);
    logger.info({ endpoint: embedded.endpoint }, 'embedded S3 server started');
  }
  // The embedded server takes only its own data directory's key (storage/embedded-s3.ts).
  const storage = createS3Storage(embedded ? { ...config.s3, endpoint: embedded.endpoint, forcePathStyle: true, ...embedded.credentials } : config.s3);
  await storage.ensureBucket();
  const provisioner = options.provisioner ?? (await makeProvisioner(config, logger));
  // Loud on purpose, and on stderr even when logs go to a file.
  if (provisioner instanceof LocalProvisioner && provisioner.warning) process.stderr.write(`catty-api: WARNING: ${provisioner.warning}\n`);
  await egressStarted;

  let boundUrl = '';
  const deps: Deps = {
    config,
    db,
    key,
    provisioner,
    egress,
    storage,
    logger,
    now: () => Date.now(),
    publicUrl: () => config.publicUrl ?? boundUrl,
    // Machines have no network: their callbacks leave through a gateway in this process
    // (callback-gateway.ts), which forwards them to this URL.
    machineApiUrl: () => config.machineApiUrl ?? boundUrl,
    background: new Set(),
  };

  // The relay to the runtimes (upload, logs, connect) sits in front of the app: it streams.
  const relay = createRelay(deps);
  const server = createServer(relay.requestListener(getRequestListener(createApp(deps).fetch)));
  server.on('upgrade', relay.onUpgrade);
  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, config.listenHost, () => {
        server.off('error', reject);
        resolve();
      });
    });
  // With port 0, prefer the port of the previous run: running machines call back to the URL
  // they were started with, and must keep reaching a restarted API.
  const lastPortFile = join(config.dataDir, 'last-port');
  const previousPort = config.listenPort === 0 ? readLastPort(lastPortFile) : null;
  try {
    await listen(previousPort ?? config.listenPort);
  } catch (err) {
    if (previousPort === null) throw err;
    await listen(0);
  }
  const address = server.address() as AddressInfo;
  writeFileSync(lastPortFile, String(address.port), { mode: 0o600 });
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  boundUrl = `http://${host}:${address.port}`;

  // Reconcile after listening: live runtimes keep calling back while we look.
  await reconcileAtStart(deps);
  // The first session need not start cold (a spare machine, where the provisioner keeps one).
  provisioner.prepare?.({ apiUrl: deps.machineApiUrl(), runtimeEnv: config.runtimeEnv });
  const stopSweeper = startSweeper(deps, config.sweepIntervalMs);

  let closed: Promise<void> | null = null;
  const close = () =>
    (closed ??= (async () => {
      stopSweeper();
      await relay.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        if ('closeAllConnections' in server) (server as { closeAllConnections(): void }).closeAllConnections();
      });
      // Bounded: in-flight machine stops get the grace they were given, no more.
      await Promise.race([Promise.allSettled([...deps.background]), new Promise((r) => setTimeout(r, config.stopGraceMs + 3000).unref())]);
      await egress.shutdown();
      await provisioner.close();
      await storage.close();
      await embedded?.close();
      await db.close();
    })());
  return { url: boundUrl, deps, close };
}

/** Postgres at CATTY_DATABASE_URL, or SQLite at <dataDir>/catty.db (0600, with its WAL files). */
export async function openStateDb(config: Pick<Config, 'dataDir' | 'databaseUrl'>): Promise<Db> {
  if (config.databaseUrl) {
    if (!/^postgres(ql)?:\/\//i.test(config.databaseUrl)) throw databaseUnreachable(config.databaseUrl, 'only postgres:// URLs are supported');
    return openDatabase(config.databaseUrl);
  }
  const dbPath = join(config.dataDir, 'catty.db');
  const db = await openDatabase(dbPath);
  for (const file of [dbPath, `${dbPath}-wal`, `${dbPath}-shm`]) if (existsSync(file)) chmodSync(file, 0o600);
  return db;
}

function readLastPort(path: string): number | null {
  try {
    const port = Number(readFileSync(path, 'utf8').trim());
    return Number.isInteger(port) && port > 0 && port < 65536 ? port : null;
  } catch {
    return null;
  }
}
