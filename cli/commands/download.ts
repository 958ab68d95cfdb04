/**
 * `catty download <label> [dest] [--format dir|tar.gz]`: the latest snapshot, verified, extracted
 * safely, its git history rebuilt on this machine from objects and refs only.
 */
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
  const privateDir = path.join(parent, `.${path.basename(dest)}.catty-git-${tag}`);
  const progress = await createProgress(ctx.stderr, 'Downloading', info.size);
  try {
    await fetchToFile(ctx, info.url, tempFile, info, progress);
    progress.stop();
    if (format === 'tar.gz') {
      fs.renameSync(tempFile, dest);
      print(ctx.stderr, `Saved ${formatBytes(info.size)} snapshot (${info.createdAt}) to ${dest}`);
      // The archive is the machine's bytes as stored: its .git (config, hooks) is the agent's.
      print(ctx.stderr, "It is the session's archive as it is: do not run git in an extracted .git from it (`catty download` without --format rebuilds the history safely).");
      return;
    }
    fs.mkdirSync(tempDir, { mode: 0o755 });
    const { extractSnapshot } = await import('../download/extract.js');
    const extracted = await extractSnapshot(tempFile, tempDir);
    fs.mkdirSync(privateDir, { mode: 0o700 });
    const history = await rebuildHistory(ctx, tempDir, privateDir);
    checkDestFree(dest, format);
    if (fs.existsSync(dest)) fs.rmdirSync(dest);
    fs.renameSync(tempDir, dest);
    print(ctx.stderr, [extractedSummary(extracted, info.createdAt, dest), ...history].join('\n'));
  } finally {
    progress.stop();
    fs.rmSync(tempFile, { force: true });
    fs.rmSync(tempDir, { recursive: true, force: true });
    fs.rmSync(privateDir, { recursive: true, force: true });
  }
}

/**
 * Nothing of the session's git may run here: its `.git` is moved out of the extracted tree into
 * a private directory and only its objects and refs are imported into a new repository made by
 * this machine's git (cli/git-import/); every other repository in the tree is dropped. Returns
 * the summary's lines about it.
 */
async function rebuildHistory(ctx: Context, tree: string, privateDir: string): Promise<string[]> {
  const { separateRepositories } = await import('../download/repositories.js');
  const separated = separateRepositories(tree, privateDir);
  const lines: string[] = [];
  if (separated.embedded.length > 0) {
    lines.push(`Left out ${plural(separated.embedded.length, 'embedded repository', 'embedded repositories')} (git here would use their config and hooks):`);
    lines.push(...listed(separated.embedded.map((rel) => escapeForTerminal(rel))));
  }
  if (separated.topGitProblem) lines.push(`Left out the snapshot's .git: ${separated.topGitProblem}.`);
  if (!separated.gitDir) return lines;
  const { importHistory } = await import('../git-import/import.js');
  const outcome = await importHistory(separated.gitDir, tree, ctx.env);
  if (!outcome.ok) {
    lines.push(`The git history could not be imported (${escapeForTerminal(outcome.why)}): the files are all here, without .git.`);
    return lines;
  }
  lines.push(
    `Rebuilt the git history here from its objects and refs: ${plural(outcome.branches.length, 'branch', 'branches')}, ${plural(outcome.tags.length, 'tag')}, HEAD on ${escapeForTerminal(outcome.head)} ` +
      "(the session's git config, hooks and index are not kept; uncommitted changes show as unstaged).",
  );
  if (outcome.leftOut.length > 0) {
    lines.push(`Left out ${plural(outcome.leftOut.length, 'ref')}:`);
    lines.push(...listed(outcome.leftOut.map((ref) => `${escapeForTerminal(ref.name)}  (${escapeForTerminal(ref.why)})`)));
  }
  for (const note of outcome.notes) lines.push(`Note: ${escapeForTerminal(note)}.`);
  return lines;
}

/** Items listed in the summary at most; the rest are counted. */
const MAX_LISTED = 20;

function listed(items: string[]): string[] {
  const lines = items.slice(0, MAX_LISTED).map((item) => `    ${item}`);
  if (items.length > MAX_LISTED) lines.push(`    … and ${items.length - MAX_LISTED} more`);
  return lines;
}

function extractedSummary(x: Extracted, createdAt: string, dest: string): string {
  const links = x.links.length > 0 ? ` and ${plural(x.links.length, 'symlink')}` : '';
  const lines = [`Extracted ${plural(x.files, 'file')}${links} (${formatBytes(x.bytes)}) from the snapshot of ${createdAt} into ${dest}`];
  if (x.skippedLinks.length > 0) {
    lines.push(`Skipped ${plural(x.skippedLinks.length, 'link')} (not created, for safety):`);
    lines.push(...listed(x.skippedLinks.map((link) => `${escapeForTerminal(link.rel)} ${link.kind === 'hardlink' ? '=>' : '->'} ${escapeForTerminal(link.target)}  (${link.why})`)));
  }
  return lines.join('\n');
}
