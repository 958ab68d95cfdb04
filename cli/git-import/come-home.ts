/**
 * Brings a session's branches home: asks its runtime for a bundle (`GET /git-bundle`), reads it
 * into a private temp file under a size cap the CLI enforces itself (the runtime is not trusted
 * to), and hands it to bundle.ts. Called while attached (when the runtime says the branches
 * moved), on detach, at the session's end, by `catty stop` and by `catty git`. Every outcome
 * is one line for the user: a project that is not a repository, or a session without one, is a
 * note, never an error.
 */
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { DEFAULT_MAX_GIT_BUNDLE_BYTES, RuntimePath } from '../../session-runtime/wire/protocol.js';
import { ErrorBody } from '../../session-runtime/wire/errors.js';
import { escapeForTerminal } from '../../session-runtime/wire/safe-path.js';
import { importBundle, REMOTE_PREFIX } from './bundle.js';
import { refNameProblem } from './refs.js';
import { readBody } from '../packer/upload.js';

export interface ComeHomeTarget {
  label: string;
  connectUrl: string;
  socketPath?: string;
  connectToken: string;
  /** The local project directory the session was created from. */
  localDir: string;
}

export interface ComeHomeResult {
  ok: boolean;
  /** One line for the user. */
  line: string;
}

const TIMEOUT_MS = 5 * 60_000;

/** The cap on a bundle's size: CATTY_MAX_GIT_BUNDLE_MB, else the protocol's default. */
export function maxBundleBytes(env: NodeJS.ProcessEnv): number {
  const mb = Number(env.CATTY_MAX_GIT_BUNDLE_MB);
  return Number.isFinite(mb) && mb > 0 ? Math.floor(mb * 1024 * 1024) : DEFAULT_MAX_GIT_BUNDLE_BYTES;
}

/** The local repository's git dir: `<localDir>/.git` (a directory, or a worktree's file), else null. */
export function localGitDir(localDir: string): string | null {
  const gitDir = path.join(localDir, '.git');
  try {
    const stat = fs.lstatSync(gitDir);
    return stat.isDirectory() || stat.isFile() ? gitDir : null;
  } catch {
    return null;
  }
}

export async function bringCommitsHome(target: ComeHomeTarget, env: NodeJS.ProcessEnv): Promise<ComeHomeResult> {
  const { label } = target;
  const gitDir = localGitDir(target.localDir);
  if (!gitDir) return { ok: true, line: `catty: ${escapeForTerminal(target.localDir)} is not a git repository; the agent's commits stay in the session.` };
  if (refNameProblem(`${REMOTE_PREFIX}/${label}/x`)) return { ok: false, line: `catty: ${escapeForTerminal(label)} cannot name a git ref; the agent's commits stay in the session.` };
  const maxBytes = maxBundleBytes(env);
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'catty-bundle-'));
  try {
    const file = path.join(scratch, 'branches.bundle');
    const got = await download(target, maxBytes, file);
    if (got.kind === 'note') return { ok: true, line: `catty: ${got.line}` };
    if (got.kind === 'refused') return { ok: false, line: `catty: the agent's commits were not brought home: ${got.line}` };
    const outcome = await importBundle(file, gitDir, label, env);
    if (!outcome.ok) return { ok: false, line: `catty: refused the session's git bundle: ${escapeForTerminal(outcome.why)}; your repository is unchanged.` };
    const names = outcome.branches.map((b) => `catty/${label}/${escapeForTerminal(b)}`);
    const shown = names.length > 4 ? `${names.slice(0, 4).join(', ')} and ${names.length - 4} more` : names.join(', ');
    const left = outcome.leftOut.length > 0 ? `; left out ${outcome.leftOut.map((l) => `${escapeForTerminal(l.name)} (${escapeForTerminal(l.why)})`).slice(0, 3).join(', ')}` : '';
    const example = `catty/${label}/${escapeForTerminal(outcome.branches.includes('main') ? 'main' : (outcome.branches[0] ?? ''))}`;
    return { ok: true, line: `catty: the agent's branches are in your repository: ${shown} (git log ${example})${left}` };
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

type Download = { kind: 'ok' } | { kind: 'note' | 'refused'; line: string };

/** GET the bundle into `file`, at most `maxBytes` of it. */
function download(target: ComeHomeTarget, maxBytes: number, file: string): Promise<Download> {
  const url = new URL(`${target.connectUrl.replace(/\/+$/, '')}${RuntimePath.gitBundle}`);
  url.searchParams.set('max', String(maxBytes));
  return new Promise((resolve) => {
    let settled = false;
    const finish = (result: Download) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(result);
    };
    const request = (url.protocol === 'https:' ? https : http).get(url, { socketPath: target.socketPath, headers: { authorization: `Bearer ${target.connectToken}` } });
    const timer = setTimeout(() => {
      request.destroy();
      finish({ kind: 'refused', line: 'the session did not send its git bundle in time' });
    }, TIMEOUT_MS);
    request.on('error', (error) => finish({ kind: 'refused', line: `the session could not be reached (${escapeForTerminal(error.message)})` }));
    request.on('response', (res) => {
      if (res.statusCode !== 200) {
        void readBody(res).then((body) => finish(refusal(res.statusCode ?? 0, body, maxBytes)));
        return;
      }
      const declared = Number(res.headers['content-length']);
      if (Number.isFinite(declared) && declared > maxBytes) {
        request.destroy();
        return finish({ kind: 'refused', line: tooLarge(maxBytes) });
      }
      const out = fs.createWriteStream(file, { flags: 'wx', mode: 0o600 });
      let received = 0;
      res.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (received > maxBytes) {
          request.destroy();
          out.destroy();
          finish({ kind: 'refused', line: tooLarge(maxBytes) });
        }
      });
      res.on('error', () => finish({ kind: 'refused', line: 'the connection broke while the git bundle was arriving' }));
      res.pipe(out);
      out.on('close', () => {
        if (!res.complete) return finish({ kind: 'refused', line: 'the git bundle arrived incomplete' });
        finish({ kind: 'ok' });
      });
    });
  });
}

function tooLarge(maxBytes: number): string {
  return `the git bundle is larger than the ${Math.round(maxBytes / (1024 * 1024))} MiB cap (raise it with CATTY_MAX_GIT_BUNDLE_MB)`;
}

function refusal(status: number, body: string, maxBytes: number): Download {
  let parsed: ErrorBody | null = null;
  try {
    const result = ErrorBody.safeParse(JSON.parse(body));
    parsed = result.success ? result.data : null;
  } catch {
    parsed = null;
  }
  const code = parsed?.error.code;
  if (code === 'no_git') return { kind: 'note', line: 'the session has no git repository (not a git project, or uploaded with --no-git); no commits to bring home.' };
  if (code === 'no_branches') return { kind: 'note', line: 'the agent has no commits yet; nothing to bring home.' };
  if (code === 'too_large') return { kind: 'refused', line: tooLarge(maxBytes) };
  return { kind: 'refused', line: escapeForTerminal(parsed?.error.message ?? `HTTP ${status}`) };
}

