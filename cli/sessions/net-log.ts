/** `catty logs --net`: the requests a session's egress proxy refused, one line each, oldest first. */
import { routes } from '../../api/contract/routes.js';
import type { EgressRefusal } from '../../session-runtime/wire/network-policy.js';
import { escapeForTerminal } from '../../session-runtime/wire/safe-path.js';
import type { Context } from '../context.js';
import { resolveApi } from '../api.js';

export async function fetchNetLog(ctx: Context, label: string): Promise<EgressRefusal[]> {
  const api = await resolveApi(ctx);
  return (await api.call(routes.netLog, { params: { ref: label } })).refusals;
}

/** `TIME  METHOD  MESSAGE [(address A)]`: the message names the target and why it was refused. */
export function refusalLine(refusal: EgressRefusal): string {
  const address = refusal.address ? ` (address ${refusal.address})` : '';
  // What the sandbox asked for is the sandbox's text: escaped before it reaches the terminal.
  return escapeForTerminal(`${refusal.time}  ${refusal.method}  ${refusal.message}${address}`);
}
