/** `catty download <label> [dest] [--format dir|tar.gz]`: the latest snapshot, verified, extracted safely. */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { routes } from '../../api/contract/routes.js';
import { print, type Context, type Runner } from '../context.js';
import { resolveApi } from '../api.js';
import { ExitCode } from '../errors.js';
import { UserError } from '../../session-runtime/wire/errors.js';
import { formatBytes, plural } from '../output.js';
import { escapeForTerminal } from '../../session-runtime/wire/safe-path.js';
import type { Extracted } from '../download/extract.js';
import { createProgress } from '../packer/progress.js';
import { fetchToFile } from '../download/fetch.js';
import { parseLabel } from './options.js';

type Format = 'dir' | 'tar.gz';

export function register(program: Command, run: Runner): void {
  program
    .command('download')
    .description("download a session's latest snapshot (default: into ./<label>)")
    .argument('<label>', 'session label', parseLabel)
    .argument('[dest]', 'destination directory (or file stem with --format tar.gz)')
    .option('--format <format>', 'dir or tar.gz', (v) => {
      if (v !== 'dir' && v !== 'tar.gz') throw new UserError('--format must be dir or tar.gz', { exitCode: ExitCode.usage });
      return v;
    }, 'dir')
    .action(run(async (ctx, label: string, dest: string | undefined, opts: { format: Format }) => download(ctx, label, dest, opts.format)));
}

function checkDestFree(dest: string, format: Format): void {
  let stat: fs.Stats;
  try {
    stat = fs.lstatSync(dest);
  } catch {
    return;
  }
  if (format === 'dir' && stat.isDirectory() && fs.readdirSync(dest).length === 0) return;
  throw new UserError(`${dest} already exists${stat.isDirectory() ? ' and is not empty' : ''}.`, { hint: 'Pass another destination.' });
}

export async function download(ctx: Context, label: string, destArg: string | undefined, format: Format): Promise<void> {
  const base = path.resolve(ctx.cwd, destArg ?? label);
  const dest = format === 'tar.gz' ? (base.endsWith('.tar.gz') ? base : `${base}.tar.gz`) : base;
  checkDestFree(dest, format);
  const api = await resolveApi(ctx);
  const info = await api.call(routes.download, { params: { ref: label } });
  const parent = path.dirname(dest);
  fs.mkdirSync(parent, { recursive: true });
  const tag = crypto.randomBytes(6).toString('hex');
  const tempFile = path.join(parent, `.${path.basename(dest)}.catty-download-${tag}.tar.gz`);
  const tempDir = path.join(parent, `.${path.basename(dest)}.catty-extract-${tag}`);
  const progress = await createProgress(ctx.stderr, 'Downloading', info.size);
  try {
    await fetchToFile(ctx, info.url, tempFile, info, progress);
    progress.stop();
    if (format === 'tar.gz') {
      fs.renameSync(tempFile, dest);
      print(ctx.stderr, `Saved ${formatBytes(info.size)} snapshot (${info.createdAt}) to ${dest}`);
      return;
    }
    fs.mkdirSync(tempDir, { mode: 0o755 });
    const { extractSnapshot } = await import('../download/extract.js');
    const extracted = await extractSnapshot(tempFile, tempDir);
    checkDestFree(dest, format);
    if (fs.existsSync(dest)) fs.rmdirSync(dest);
    fs.renameSync(tempDir, dest);
    print(ctx.stderr, extractedSummary(extracted, info.createdAt, dest));
  } finally {
    progress.stop();
    fs.rmSync(tempFile, { force: true });
    fs.rmSync(tempDir, { recursive: true, force: true });
  }
}

/** Links listed in the summary at most; the rest are counted. */
const MAX_LISTED_LINKS = 20;


function extractedSummary(x: Extracted, createdAt: string, dest: string): string {
  const links = x.links.length > 0 ? ` and ${plural(x.links.length, 'symlink')}` : '';
  const lines = [`Extracted ${plural(x.files, 'file')}${links} (${formatBytes(x.bytes)}) from the snapshot of ${createdAt} into ${dest}`];
  if (x.skippedLinks.length > 0) {
    lines.push(`Skipped ${plural(x.skippedLinks.length, 'link')} (not created, for safety):`);
    for (const link of x.skippedLinks.slice(0, MAX_LISTED_LINKS)) {
      const arrow = link.kind === 'hardlink' ? '=>' : '->';
      lines.push(`    ${escapeForTerminal(link.rel)} ${arrow} ${escapeForTerminal(link.target)}  (${link.why})`);
    }
    if (x.skippedLinks.length > MAX_LISTED_LINKS) lines.push(`    … and ${x.skippedLinks.length - MAX_LISTED_LINKS} more`);
  }
  return lines.join('\n');
}
