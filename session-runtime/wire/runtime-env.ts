/**
 * What a provisioner hands `catty-session` and reads back from it: every environment variable
 * the runtime (and its launcher) reads, named here once, and the lines they print when ready.
 * DESIGN.md "Fixed names" lists the first eight; the rest are knobs, mostly for tests.
 */

/** Environment variables `catty-session` reads (its config.ts is the one reader). */
export const RuntimeEnv = {
  /** Workspace directory (default /workspace). */
  workspace: 'CATTY_WORKSPACE',
  /** `host:port` (default 0.0.0.0:8080; port 0 picks a free one) or `unix:PATH` (./runtime-address.ts). */
  listen: 'CATTY_LISTEN',
  /** Bearer token for upload, connect, logs and snapshot (required). */
  connectToken: 'CATTY_CONNECT_TOKEN',
  /** JSON argv (default ["claude","--dangerously-skip-permissions"]). */
  agentCmd: 'CATTY_AGENT_CMD',
  /** Which agent runs (AGENT_NAMES, wire/agents.ts; default claude): whose home seeding, model
   * variables and conversation state the runtime uses. */
  agent: 'CATTY_AGENT',
  /** JSON object of extra variables for the agent only (secrets, settings). */
  agentEnv: 'CATTY_AGENT_ENV',
  /** The agent's HOME (default: a fresh private directory outside the workspace). */
  agentHome: 'CATTY_AGENT_HOME',
  /** With machineToken: the API's URL for callbacks (snapshots, heartbeat, logs, exit). */
  apiUrl: 'CATTY_API_URL',
  machineToken: 'CATTY_MACHINE_TOKEN',
  /** `1`: start the agent at once; no upload is expected (`catty new --no-upload`). */
  noUpload: 'CATTY_NO_UPLOAD',
  /** Cap on uncompressed upload bytes (default 1 GiB); the body cap is the same number. */
  maxUploadBytes: 'CATTY_MAX_UPLOAD_BYTES',
  /** Snapshot period (default 30 s); the first one comes after a third of it. */
  snapshotIntervalMs: 'CATTY_SNAPSHOT_INTERVAL_MS',
  /** How long to keep serving after the agent exited (default 10 min). */
  exitLingerMs: 'CATTY_EXIT_LINGER_MS',
  /** WebSocket ping period (default 15 s); a peer silent for two periods is dropped. */
  heartbeatIntervalMs: 'CATTY_HEARTBEAT_INTERVAL_MS',
  /** API heartbeat callback period (default 30 s). */
  apiHeartbeatIntervalMs: 'CATTY_API_HEARTBEAT_INTERVAL_MS',
  /** Files above this are announced as skipped (default 50 MiB). */
  maxSyncFileBytes: 'CATTY_MAX_SYNC_FILE_BYTES',
  /** A snapshot PUT with no traffic for this long is abandoned and retried (default 60 s). */
  storageTimeoutMs: 'CATTY_STORAGE_TIMEOUT_MS',
  /** The host's egress proxy for this session, a Unix socket path inside the machine; the
   * runtime bridges the agent's loopback proxy port to it. Unset: no egress proxy. */
  egressSocket: 'CATTY_EGRESS_SOCKET',
  /** With egressSocket: the session's model credentials are held by the egress proxy. A JSON
   * array of the credential variables (its agent's, wire/agent-*.ts) the agent gets a placeholder
   * for; its base URL (ANTHROPIC_BASE_URL, …) is then the runtime's bridge (the proxy's model route). */
  modelRoute: 'CATTY_MODEL_ROUTE',
  /** A Unix socket inside the machine through which the runtime's own requests (API callbacks,
   * snapshot PUTs) leave it, asked as of a proxy; unset: straight to their hosts. */
  callbackSocket: 'CATTY_CALLBACK_SOCKET',
} as const;

/**
 * Where a machine's sockets appear inside it (issue 20). The provisioner binds a host directory
 * of the machine's own at MACHINE_RUN_DIR (the runtime listens there: `CATTY_LISTEN=unix:…`)
 * and the session's egress directory at MACHINE_EGRESS_DIR (the proxy's socket).
 */
export const MACHINE_RUN_DIR = '/run/catty';
export const MACHINE_RUNTIME_SOCKET = `${MACHINE_RUN_DIR}/runtime.sock`;
/** The host's end of the runtime's own route out (CATTY_CALLBACK_SOCKET), beside its socket. */
export const MACHINE_CALLBACK_SOCKET = `${MACHINE_RUN_DIR}/callback.sock`;
export const MACHINE_EGRESS_DIR = '/run/catty-egress';
export const EGRESS_SOCKET_NAME = 'proxy.sock';
/** Beside the proxy's socket when the session has `--inject` rules: the certificate of the
 * session's own CA (PEM), which the agent's TLS clients are told to trust. */
export const EGRESS_CA_NAME = 'ca.pem';

/** The line `catty-session` prints on stdout once it accepts connections. */
export const READY_LINE_PREFIX = 'catty-session listening on ';

/**
 * NODE_OPTIONS every launcher of catty-session should set (local provisioner; a container image
 * can use the same in its ENV). A small young generation (V8's default semi-space grows to
 * 16 MiB+) keeps the runtime's peak RSS near 80 MB instead of 100+, inside the 100 MB budget
 * the soak enforces (tests/integration/runtime-memory.test.ts measures it).
 */
export const RUNTIME_NODE_OPTIONS = '--max-semi-space-size=2';

/**
 * session-runtime/launcher.ts: started by the local provisioner with the non-secret settings in
 * its environment and the secret ones (every RuntimeEnv name) as JSON on stdin.
 */
export const LauncherEnv = {
  /** Niceness the launcher takes before starting the runtime; the agent inherits it. */
  nice: 'CATTY_RUNTIME_NICE',
} as const;

/** What the launcher prints once it runs (inside the sandbox) and waits for its settings. */
export const LAUNCHER_WAITING_LINE = 'runtime-launcher: waiting for the session settings';
