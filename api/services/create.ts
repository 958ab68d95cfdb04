/** POST /v1/sessions: limit, label, machine, health wait; a failed start cleans up after itself. */
import { SANDBOX_UNAVAILABLE, type CreateSessionRequest, type CreatedSession } from '../contract/schemas.js';
import { DEFAULT_NETWORK_PRESET, type NetworkPolicy } from '../../session-runtime/wire/network-policy.js';
import { encrypt, newId, newToken, sha256Hex } from '../crypto.js';
import type { Deps } from '../deps.js';
import { HttpError } from '../errors.js';
import { clientConnectInfo } from '../relay/paths.js';
import { iso } from '../state/db.js';
import { countLive, insertSession, labelTaken, secretNamesColumn, sessionById, toSession, updateSession } from '../state/sessions.js';
import { insertToken } from '../state/tokens.js';
import { lockUser } from '../state/users.js';
import { agentCommand } from './agent-cmd.js';
import { waitForHealthy } from './health.js';
import { splitSecrets, type SplitSecrets } from './session-credentials.js';
import { sendSnapshot, type RestoreFrom } from './snapshot-send.js';
import { machineEndpoint } from './runtime-client.js';
import { randomLabel } from './labels.js';
import { markEnded } from './lifecycle.js';

type Parsed = Required<Pick<CreateSessionRequest, 'agent' | 'upload'>> & Omit<CreateSessionRequest, 'agent' | 'upload'>;

/** Grace for a machine that never became healthy: nothing worth snapshotting yet. */
const FAILED_START_GRACE_MS = 2000;

export interface CreateOptions {
  /** The label (`catty fork --label`); absent: a generated one. */
  label?: string;
  restore?: RestoreFrom;
  /** The agent's command instead of the request's (a fork continuing Claude Code's conversation). */
  agentCmd?: string[];
}

export async function createSession(deps: Deps, ownerId: string, request: Parsed, options: CreateOptions = {}): Promise<CreatedSession> {
  const now = deps.now();
  const id = newId();
  const connectToken = newToken('cat_ct');
  const machineToken = newToken('cat_mt');
  const ttlSec = request.ttlSec ?? deps.config.defaultTtlSec;
  // Refused before anything exists: no row, no label, no machine.
  if (deps.provisioner.refusal) throw new HttpError(503, SANDBOX_UNAVAILABLE, deps.provisioner.refusal);
  const network: NetworkPolicy = request.network ?? { preset: DEFAULT_NETWORK_PRESET, allow: [] };
  // The model credentials and --inject secrets go to the egress proxy, never into the machine.
  const secrets = splitSecrets(request, network, request.agent);

  // Check and insert in one transaction, serialised per owner (checkLiveLimit), so concurrent
  // creates — on this replica or another — cannot both pass the limit.
  const label = await deps.db.transaction(async (db) => {
    await checkLiveLimit({ ...deps, db }, ownerId);
    if (options.label !== undefined && (await labelTaken(db, ownerId, options.label))) throw new HttpError(409, 'label_taken', `you already have a session labelled ${options.label}`);
    const label = options.label ?? (await freeLabel(db, ownerId));
    await insertSession(db, {
      id,
      owner_id: ownerId,
      label,
      status: 'provisioning',
      agent: request.agent,
      provisioner: deps.provisioner.kind,
      connect_token_enc: encrypt(deps.key, connectToken, `connect:${id}`),
      ttl_sec: ttlSec,
      created_at: iso(now),
      last_activity_at: iso(now),
      network: JSON.stringify(network),
      cmd: request.cmd ?? null,
      // Names only, never values: a browser's resume that cannot send them is refused by name.
      secret_names: secretNamesColumn(request.secrets),
    });
    await insertToken(db, { hash: sha256Hex(machineToken), kind: 'machine', user_id: ownerId, session_id: id, expires_at: null, created_at: iso(now) });
    return label;
  });

  return launchMachine(deps, { id, ownerId, label, network, connectToken, machineToken }, {
    agentCmd: options.agentCmd ?? agentCommand(request.agent, request.cmd),
    secrets,
    upload: request.upload,
    ...(options.restore ? { restore: options.restore } : {}),
  });
}

/**
 * Refuses a start past the owner's limit of live sessions. Call inside the transaction that adds
 * one: it first locks the owner's row (Postgres: SELECT … FOR UPDATE; SQLite's write transaction
 * already excludes other writers), so a second create for the same owner waits here until the
 * first commits, then counts its session.
 */
export async function checkLiveLimit(deps: Pick<Deps, 'db' | 'config'>, ownerId: string): Promise<void> {
  await lockUser(deps.db, ownerId);
  if ((await countLive(deps.db, ownerId)) >= deps.config.maxSessionsPerUser) {
    throw new HttpError(429, 'limit_reached', `you already have ${deps.config.maxSessionsPerUser} running sessions; stop one first (catty stop <label>)`);
  }
}

/** A session row in `provisioning` with its tokens: who it is and where it may connect. */
export interface Starting {
  id: string;
  ownerId: string;
  label: string;
  network: NetworkPolicy;
  connectToken: string;
  machineToken: string;
}

export interface LaunchSpec {
  agentCmd: string[];
  secrets: SplitSecrets;
  upload: boolean;
  restore?: RestoreFrom;
}

/** Starts the machine of a `provisioning` row (new, resumed or forked) and waits until it is
 * healthy — and, restoring, until it has its workspace; a failed start ends the row `failed`. */
export async function launchMachine(deps: Deps, session: Starting, spec: LaunchSpec): Promise<CreatedSession> {
  const { id, ownerId, label, network, connectToken, machineToken } = session;
  const { agentEnv, credentials, modelRoute } = spec.secrets;
  const log = deps.logger.child({ sessionId: id, label });
  let machineId: string | null = null;
  try {
    const abort = AbortSignal.timeout(deps.config.healthTimeoutMs);
    // Listening before the machine starts: the agent's first request finds the proxy there. A
    // Swarm machine's proxy is its node's, which gets the policy and credentials in start().
    const egressDir = deps.provisioner.egressAtNode ? undefined : await deps.egress.open(id, network, credentials, deps.provisioner.machineUid);
    const machine = await deps.provisioner.start(
      {
        sessionId: id,
        ownerId,
        label,
        connectToken,
        machineToken,
        apiUrl: deps.machineApiUrl(),
        agentCmd: spec.agentCmd,
        agent: spec.secrets.agent,
        // Secrets live here only: never in the DB or a log line.
        agentEnv,
        ...(modelRoute ? { modelRoute } : {}),
        upload: spec.upload || spec.restore !== undefined,
        runtimeEnv: deps.config.runtimeEnv,
        ...(egressDir ? { egressDir } : { network, credentials }),
      },
      abort,
    );
    machineId = machine.machineId;
    await updateSession(deps.db, id, { machine_id: machine.machineId, runtime_url: machine.runtimeUrl, runtime_socket: machine.runtimeSocket ?? null });
    const runtime = machineEndpoint(machine, deps.provisioner.runtimeTls);
    // An agent that exits at once can end the session (its exit callback) before /healthz is
    // seen: that is a session that ran and stopped, not a failed start.
    const starting = async () => (await sessionById(deps.db, id))?.status === 'provisioning';
    if (!(await waitForHealthy(runtime, deps.config.healthTimeoutMs, undefined, starting))) {
      const row = await sessionById(deps.db, id);
      if (row && row.status !== 'provisioning') {
        log.info({ status: row.status }, 'session ended before it was seen healthy');
        return { ...toSession(row), ...clientConnectInfo(deps.config, id, runtime), connectToken };
      }
      throw new Error(`the session runtime did not become healthy within ${deps.config.healthTimeoutMs} ms`);
    }
    if (spec.restore) await sendSnapshot(runtime, connectToken, spec.restore);
    if (await starting()) await updateSession(deps.db, id, { status: 'running', last_activity_at: iso(deps.now()) });
    log.info({ machineId, runtime, restored: spec.restore !== undefined }, 'session running');
    return { ...toSession((await sessionById(deps.db, id))!), ...clientConnectInfo(deps.config, id, runtime), connectToken };
  } catch (err) {
    log.error({ err }, 'session failed to start');
    if (machineId) await deps.provisioner.stop(machineId, { graceMs: FAILED_START_GRACE_MS }).catch(() => undefined);
    await markEnded(deps, id, { status: 'failed', detail: `failed to start: ${oneLine(err)}` });
    throw new HttpError(503, 'provision_failed', `the session machine for ${label} failed to start; \`catty list\` shows why`);
  }
}

/** A generated label the owner does not use yet. */
async function freeLabel(db: Deps['db'], ownerId: string, attempts = 50): Promise<string> {
  for (let i = 0; i < attempts; i++) {
    const label = randomLabel();
    if (!(await labelTaken(db, ownerId, label))) return label;
  }
  throw new Error('could not find a free session label');
}

function oneLine(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.split('\n')[0]!.slice(0, 300);
}
