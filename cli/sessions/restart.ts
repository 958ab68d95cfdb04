/**
 * What `catty resume` and `catty fork` share: the secrets sent again (the API never stores
 * them — as `catty new` sends them), a snapshot that fails its checksum never used silently
 * (the API refuses it; here the user is asked whether to start from the previous one, or told
 * the flag when nobody can be asked), and attaching to the started session.
 */
import { routes } from '../../api/contract/routes.js';
import { SNAPSHOT_CORRUPT, type ResumedSession, type ResumeRequest, type Session, type SnapshotChoice } from '../../api/contract/schemas.js';
import type { ApiClient } from '../api-client.js';
import { print, type Context } from '../context.js';
import { ApiRequestError, ExitCode } from '../errors.js';
import { UserError } from '../../session-runtime/wire/errors.js';
import { DEFAULT_NETWORK_PRESET } from '../../session-runtime/wire/network-policy.js';
import { askYesNo } from '../packer/whole-dir.js';
import { warnIfClaudeHasNoKey } from '../secrets/claude-key.js';
import { injectRequests } from '../secrets/inject.js';
import { SecretStore, defaultSecretStoreOptions } from '../secrets/store.js';
import { DEFAULT_DETACH_KEY } from '../attach/detach-key.js';
import { runtimeTarget } from './runtime-target.js';
import type { SessionRecord } from './store.js';

export const SNAPSHOT_FLAG = '--snapshot <which>';
export function parseSnapshotChoice(value: string): SnapshotChoice {
  if (value !== 'latest' && value !== 'previous') throw new UserError('--snapshot must be latest or previous', { exitCode: ExitCode.usage });
  return value;
}

export interface RestartOptions {
  secrets: boolean;
  snapshot: SnapshotChoice;
  detach?: boolean;
  syncBack: boolean;
  autoReconnect: boolean;
  detachKey?: number;
}

/** The secrets and --inject rules for a session started again with `source`'s network policy. */
export function secretsFor(ctx: Context, source: Session, sendSecrets: boolean): Pick<ResumeRequest, 'secrets' | 'inject'> {
  const store = sendSecrets ? new SecretStore(defaultSecretStoreOptions(ctx)) : null;
  const secrets = store ? store.all() : {};
  const network = source.network ?? { preset: DEFAULT_NETWORK_PRESET, allow: [] };
  const inject = store ? injectRequests(store.injectSettings(), Object.keys(secrets), network) : [];
  warnIfClaudeHasNoKey(ctx, { agent: source.agent, ...(source.cmd !== undefined ? { cmd: source.cmd } : {}), secrets: sendSecrets }, Object.keys(secrets));
  return { ...(Object.keys(secrets).length > 0 ? { secrets } : {}), ...(inject.length > 0 ? { inject } : {}) };
}

/**
 * Starts the session with `start(choice)`; when the latest snapshot fails its checksum, asks (on
 * a terminal) whether to start from the previous one. Without a terminal: exits non-zero with
 * the API's reason, which names --snapshot previous.
 */
export async function withSnapshotChoice(ctx: Context, choice: SnapshotChoice, start: (choice: SnapshotChoice) => Promise<ResumedSession>): Promise<ResumedSession> {
  try {
    return await start(choice);
  } catch (error) {
    if (!(error instanceof ApiRequestError && error.code === SNAPSHOT_CORRUPT)) throw error;
    const canAsk = choice === 'latest' && /--snapshot previous/.test(error.message) && ctx.stdin.isTTY === true && ctx.stderr.isTTY === true && ctx.stdin.setRawMode !== undefined;
    if (!canAsk) throw new UserError(error.message, { hint: choice === 'latest' ? 'Pass --snapshot previous to start from the snapshot before it.' : undefined, exitCode: ExitCode.error });
    print(ctx.stderr, `catty: ${error.message}`);
    if (!(await askYesNo(ctx, 'Start from the previous snapshot? [y/N] '))) throw new UserError('Nothing was started.', { hint: 'Pass --snapshot previous to start from the snapshot before it.' });
    return start('previous');
  }
}

/** After the start: print the label (--detach) or attach, like `catty new`. */
export async function attachOrPrint(ctx: Context, api: ApiClient, session: ResumedSession, record: SessionRecord | null, opts: RestartOptions): Promise<number> {
  if (opts.detach) {
    print(ctx.stderr, `Attach with: catty connect ${session.label}`);
    print(ctx.stdout, session.label);
    return ExitCode.ok;
  }
  const { attachSession } = await import('../attach/session.js');
  return attachSession(ctx, {
    label: session.label,
    ...runtimeTarget(api.baseUrl, session),
    connectToken: session.connectToken,
    record,
    syncBack: opts.syncBack,
    autoReconnect: opts.autoReconnect,
    detachKey: opts.detachKey ?? DEFAULT_DETACH_KEY,
  });
}

/** The resume or fork call with its secrets and snapshot choice. */
export function callRestart(api: ApiClient, which: 'resume' | 'fork', ref: string, body: ResumeRequest & { label?: string }): Promise<ResumedSession> {
  return which === 'resume' ? api.call(routes.resume, { params: { ref }, body }) : api.call(routes.fork, { params: { ref }, body });
}
