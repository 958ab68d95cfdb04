/**
 * A session's last terminal output as the API keeps it: `catty logs` prints it, and attaching
 * to a session that has ended shows it.
 */
import { routes } from '../../api/contract/routes.js';
import type { Context } from '../context.js';
import { resolveApi } from '../api.js';

export async function fetchLogs(ctx: Context, label: string): Promise<Buffer> {
  const api = await resolveApi(ctx);
  const { data } = await api.call(routes.logs, { params: { ref: label } });
  return Buffer.from(data, 'base64');
}
