/** `catty new`: create a session, upload this directory, attach (or --detach). */
import type { Command } from 'commander';
import { routes } from '../../api/contract/routes.js';
import type { CreatedSession, CreateSessionRequest } from '../../api/contract/schemas.js';
import { print, type Context, type Runner } from '../context.js';
import { resolveApi } from '../api.js';
import { ExitCode } from '../errors.js';
import { UserError } from '../../session-runtime/wire/errors.js';
import { parseAllowList } from '../../session-runtime/wire/network-allow.js';
import { DEFAULT_NETWORK_PRESET, parseNetworkPreset, type NetworkPolicy, type NetworkPreset } from '../../session-runtime/wire/network-policy.js';
import { spinner } from '../output.js';
import { removeRecord, saveManifest, saveRecord } from '../sessions/store.js';
import { SecretStore, defaultSecretStoreOptions } from '../secrets/store.js';
import { warnIfAgentHasNoKey } from '../secrets/claude-key.js';
import { DEFAULT_AGENT, type AgentName } from '../../session-runtime/wire/agents.js';
import { injectRequests } from '../secrets/inject.js';
import { prepareUpload } from '../packer/prepare.js';
import { DEFAULT_MAX_UPLOAD_MB, uploadWorkspace } from '../packer/upload.js';
import { uploadSummary } from '../packer/summary.js';
import { WHOLE_DIR_FLAG, confirmWholeDir } from '../packer/whole-dir.js';
import { createProgress } from '../packer/progress.js';
import { terminalSize } from '../attach/terminal.js';
import { DEFAULT_DETACH_KEY, parseDetachKey } from '../attach/detach-key.js';
import { parseDurationSec, parsePositiveInt } from './options.js';
import { agentHelp, parseAgent } from './agent-option.js';
import { runtimeTarget } from '../sessions/runtime-target.js';

const CANCEL_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

interface NewOptions {
  agent: AgentName;
  cmd?: string;
  upload: boolean;
  git: boolean;
  syncBack: boolean;
  secrets: boolean;
  autoReconnect: boolean;
  ttl?: number;
  detach?: boolean;
  detachKey?: number;
  maxUploadMb?: number;
  yes?: boolean;
  net: NetworkPreset;
  /** Each --allow as given (parsed together: one rule per host). */
  allow?: string[];
}

export function register(program: Command, run: Runner): void {
  program
    .command('new')
    .description('start a session from this directory and attach to it')
    .option('--agent <agent>', agentHelp(), parseAgent, DEFAULT_AGENT)
    .option('--cmd <command>', 'run this shell command line (sh -c) instead of the agent')
    .option('--no-upload', 'start with an empty workspace')
    .option('--no-git', 'do not upload .git')
    .option('--no-sync-back', "do not write the session's file changes back here")
    .option('--no-secrets', 'do not send your secrets to the session')
    .option('--no-auto-reconnect', 'do not reconnect by itself when the connection drops')
    .option('--ttl <duration>', 'stop after this much inactivity (e.g. 30m, 2h)', parseDurationSec)
    .option('--detach', 'create and upload, print the label, do not attach')
    .option('--detach-key <key>', 'detach key, like ctrl-x (default ctrl-])', parseDetachKey)
    .option('--max-upload-mb <n>', `upload cap in MiB, compressed (default $CATTY_MAX_UPLOAD_MB or ${DEFAULT_MAX_UPLOAD_MB})`, parsePositiveInt)
    .option('--net <preset>', 'network: none, trusted (model APIs, package registries, git hosts) or full', parseNetworkPreset, DEFAULT_NETWORK_PRESET)
    .option('--allow <hosts>', 'also reach HOST[:PORT][,…] (a name, *.suffix or an IP; no port: 80 and 443); repeatable', (value: string, previous: string[] = []) => [...previous, value])
    .option(WHOLE_DIR_FLAG, 'upload this directory without asking, even when it is your home directory or /')
    .action(run(async (ctx, opts: NewOptions) => newSession(ctx, opts)));
}

function maxUploadBytes(ctx: Context, flag: number | undefined): number {
  const fromEnv = Number(ctx.env.CATTY_MAX_UPLOAD_MB);
  const mb = flag ?? (Number.isFinite(fromEnv) && fromEnv > 0 ? fromEnv : DEFAULT_MAX_UPLOAD_MB);
  return Math.floor(mb * 1024 * 1024);
}

export async function newSession(ctx: Context, opts: NewOptions): Promise<number> {
  if (opts.ttl !== undefined && (opts.ttl < 10 || opts.ttl > 30 * 86400)) {
    throw new UserError('--ttl must be between 10s and 30d.', { exitCode: ExitCode.usage });
  }
  // Everything that can fail locally fails before a machine is started.
  const network: NetworkPolicy = { preset: opts.net, allow: parseAllowList(opts.allow ?? []) };
  const store = opts.secrets ? new SecretStore(defaultSecretStoreOptions(ctx)) : null;
  const secrets = store ? store.all() : {};
  // Secrets set with --inject: for hosts this session's policy must allow (exit 2 before anything starts).
  const inject = store ? injectRequests(store.injectSettings(), Object.keys(secrets), network) : [];
  warnIfAgentHasNoKey(ctx, opts, Object.keys(secrets));
  if (opts.upload) await confirmWholeDir(ctx, opts.yes === true);
  const maxBytes = maxUploadBytes(ctx, opts.maxUploadMb);
  // The walk and finding the API (maybe starting the local control plane) overlap.
  const [prepared, api] = await Promise.all([opts.upload ? prepareUpload(ctx, { git: opts.git, maxBytes }) : null, resolveApi(ctx)]);
  const body: CreateSessionRequest = { agent: opts.agent, upload: opts.upload };
  if (opts.cmd) body.cmd = opts.cmd;
  if (opts.ttl !== undefined) body.ttlSec = opts.ttl;
  if (Object.keys(secrets).length > 0) body.secrets = secrets;
  if (inject.length > 0) body.inject = inject;
  // The default is the API's too: left out, the request also suits an API older than policies.
  if (network.preset !== DEFAULT_NETWORK_PRESET || network.allow.length > 0) body.network = network;

  const spin = spinner(ctx.stderr, 'Starting a session machine…');
  let session: CreatedSession;
  try {
    session = await api.call(routes.createSession, { body });
  } finally {
    spin.stop();
  }
  saveRecord(ctx, { label: session.label, id: session.id, apiUrl: api.baseUrl, localDir: ctx.cwd, createdAt: session.createdAt });
  print(ctx.stderr, `Session ${ctx.colors.bold(session.label)} is up.`);
  const runtime = runtimeTarget(api.baseUrl, session);

  if (prepared) {
    const { walk } = prepared;
    const progress = await createProgress(ctx.stderr, 'Uploading', walk.totalBytes);
    // Ctrl-C (or SIGTERM) during the upload stops it and the machine waiting for it.
    const cancel = new AbortController();
    const onSignal = () => cancel.abort();
    for (const s of CANCEL_SIGNALS) ctx.proc.on(s, onSignal);
    try {
      const started = Date.now();
      const outcome = await uploadWorkspace(walk, {
        ...runtime,
        connectToken: session.connectToken,
        ...terminalSize(ctx),
        maxBytes,
        progress,
        signal: cancel.signal,
      });
      progress.stop();
      saveManifest(ctx, session.label, outcome.manifest);
      print(ctx.stderr, uploadSummary(prepared, outcome, Date.now() - started));
    } catch (error) {
      progress.stop();
      // A session without its files is of no use: remove it (machine and all), not only stop it.
      await api.call(routes.deleteSession, { params: { ref: session.label } }).catch(() => undefined);
      removeRecord(ctx, session.label);
      if (cancel.signal.aborted) throw new UserError(`Cancelled; session ${session.label} was removed.`, { exitCode: 130 });
      throw error;
    } finally {
      for (const s of CANCEL_SIGNALS) ctx.proc.off(s, onSignal);
    }
  }

  if (opts.detach) {
    print(ctx.stderr, `Attach with: catty connect ${session.label}`);
    print(ctx.stdout, session.label);
    return ExitCode.ok;
  }
  // Loaded on demand: ws and the attach code are not needed by `new --detach`.
  const { attachSession } = await import('../attach/session.js');
  return attachSession(ctx, {
    label: session.label,
    ...runtime,
    connectToken: session.connectToken,
    record: { label: session.label, id: session.id, apiUrl: api.baseUrl, localDir: ctx.cwd, createdAt: session.createdAt },
    syncBack: opts.syncBack,
    autoReconnect: opts.autoReconnect,
    detachKey: opts.detachKey ?? DEFAULT_DETACH_KEY,
  });
}
