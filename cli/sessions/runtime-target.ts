/**
 * Where the CLI reaches a session's runtime, from the API's connect information: its base URL,
 * and the runtime's Unix socket when the API is the embedded one on this machine (DESIGN.md
 * "Reaching runtimes"). A socket path names a file on the API's host, so only an API on this
 * machine (a loopback URL) may hand one out: from a remote API it would point the upload, the
 * connect token and every keystroke at whatever listens at that path here.
 */
import path from 'node:path';
import type { ConnectInfo } from '../../api/contract/schemas.js';
import { UserError } from '../../session-runtime/wire/errors.js';
import { escapeForTerminal } from '../../session-runtime/wire/safe-path.js';
import { isLoopbackHost } from '../config.js';

export interface RuntimeTarget {
  /** Base URL: `/upload` and `/connect` are appended. */
  connectUrl: string;
  /** Connect through this Unix socket (connectUrl then only names the paths). */
  socketPath?: string;
}

export function runtimeTarget(apiBaseUrl: string, info: Pick<ConnectInfo, 'connectUrl' | 'socketPath'>): RuntimeTarget {
  if (info.socketPath === undefined) return { connectUrl: info.connectUrl };
  if (!isLoopbackHost(new URL(apiBaseUrl).hostname) || !path.isAbsolute(info.socketPath)) {
    throw new UserError(`The API at ${apiBaseUrl} handed out a local socket path (${escapeForTerminal(info.socketPath)}) for the session; refusing it.`, {
      hint: 'Only the API on this machine may name a socket here. Is this a catty API of the same version?',
    });
  }
  return { connectUrl: info.connectUrl, socketPath: info.socketPath };
}
