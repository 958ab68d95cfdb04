/**
 * `catty share <label> [--ttl 1h] [--revoke]`: a read-only link to one session (issue 24, item 6):
 * its terminal, watch-only, and its files, for anyone holding the link, no account needed, until
 * it expires (a minute to a week) or `--revoke` stops every link of the session at once.
 */
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { routes } from '../../api/contract/routes.js';
import { DEFAULT_SHARE_TTL_SEC, MAX_SHARE_TTL_SEC, MIN_SHARE_TTL_SEC } from '../../api/contract/schemas.js';
import { print, type Context, type Runner } from '../context.js';
import { resolveApi } from '../api.js';
import { plural } from '../output.js';
import { parseLabel } from './options.js';

const UNIT_SEC: Record<string, number> = { m: 60, h: 3600, d: 86400 };

/** `--ttl`: one number and one unit — 30m, 1h, 2d — from a minute to a week; nothing else. */
export function parseShareTtl(text: string): number {
  const match = /^([1-9][0-9]{0,6})([mhd])$/.exec(text);
  if (!match) throw new InvalidArgumentError('expected a duration like 30m, 1h or 2d (minutes, hours or days)');
  const sec = Number(match[1]) * UNIT_SEC[match[2]!]!;
  if (sec < MIN_SHARE_TTL_SEC || sec > MAX_SHARE_TTL_SEC) throw new InvalidArgumentError('a share link lives from 1m to 7d');
  return sec;
}

export function register(program: Command, run: Runner): void {
  program
    .command('share')
    .description("a read-only link to a session's terminal and files, for anyone who has it")
    .argument('<label>', 'session label', parseLabel)
    .option('--ttl <duration>', 'how long the link works: 30m, 1h, 2d (at most 7d)', parseShareTtl)
    .option('--revoke', 'stop every link to this session now')
    .action(run(async (ctx, label: string, opts: { ttl?: number; revoke?: boolean }) => share(ctx, label, opts)));
}

export async function share(ctx: Context, label: string, opts: { ttl?: number; revoke?: boolean }): Promise<void> {
  const api = await resolveApi(ctx);
  if (opts.revoke) {
    const { revoked } = await api.call(routes.revokeShares, { params: { ref: label } });
    print(ctx.stderr, revoked === 0 ? `No live links to ${label}.` : `${plural(revoked, 'link')} to ${label} stopped working.`);
    return;
  }
  const link = await api.call(routes.createShare, { params: { ref: label }, body: { ttlSec: opts.ttl ?? DEFAULT_SHARE_TTL_SEC } });
  print(ctx.stdout, link.url);
  const until = `${link.expiresAt.slice(0, 16).replace('T', ' ')} UTC`;
  print(ctx.stderr, `Anyone with this link can watch ${label} and read its files (never type into it) until ${until}; \`catty share ${label} --revoke\` stops it sooner.`);
}
