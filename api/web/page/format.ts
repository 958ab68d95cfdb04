/** How the page words times, sizes and policies (pure functions, no DOM). */
import type { Session } from '../../contract/schemas.js';

/** "12s", "5m", "3h", "2d" since `iso` (or until it, when it is in the future). */
export function age(iso: string, now = Date.now()): string {
  const seconds = Math.max(0, Math.round(Math.abs(now - Date.parse(iso)) / 1000));
  if (!Number.isFinite(seconds)) return '?';
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)}h`;
  return `${Math.floor(seconds / 86400)}d`;
}

/** "trusted", "none + api.example.com:443", "full + 3 hosts". */
export function networkSummary(network: Session['network']): string {
  if (!network) return 'trusted';
  if (network.allow.length === 0) return network.preset;
  const hosts = network.allow.map((rule) => `${rule.host}:${rule.ports.join(',')}`);
  return hosts.length <= 2 ? `${network.preset} + ${hosts.join(', ')}` : `${network.preset} + ${hosts.length} hosts`;
}

export const STATUS_TEXT: Record<Session['status'], string> = {
  provisioning: 'starting',
  running: 'running',
  stopped: 'stopped',
  timed_out: 'timed out',
  failed: 'failed',
};

export const isEnded = (status: Session['status']): boolean => status === 'stopped' || status === 'timed_out' || status === 'failed';
