/**
 * `catty new` in `/` or a home directory (or above one, like /home) would upload everything the
 * user has: ask first on a terminal; without one, refuse with exit 2 and name the flag.
 */
import os from 'node:os';
import path from 'node:path';
import type { Context } from '../context.js';
import { ExitCode } from '../errors.js';
import { UserError } from '../../session-runtime/wire/errors.js';
import { leavesRoot } from '../../session-runtime/wire/safe-path.js';
import { realpathOr } from './walk.js';

/** The flag that uploads such a directory without asking. */
export const WHOLE_DIR_FLAG = '--yes';

/** What `dir` is when uploading it would take the user's whole home or more, else null. */
export function wholeDirKind(dir: string, env: NodeJS.ProcessEnv): string | null {
  const real = realpathOr(dir);
  if (path.parse(real).root === real) return 'the root directory';
  const home = realpathOr(env.HOME || os.homedir());
  if (real === home) return 'your home directory';
  const back = path.relative(real, home);
  if (back !== '' && !leavesRoot(back)) return 'a directory holding your home directory';
  return null;
}

/** Resolves when the upload may go ahead; throws when the user says no or cannot be asked. */
export async function confirmWholeDir(ctx: Context, yes: boolean): Promise<void> {
  const kind = wholeDirKind(ctx.cwd, ctx.env);
  if (!kind || yes) return;
  const what = `${ctx.cwd} is ${kind}: \`catty new\` would upload all of it`;
  if (!ctx.stdin.isTTY || !ctx.stderr.isTTY || !ctx.stdin.setRawMode) {
    throw new UserError(`${what}.`, { hint: `Run it in a project directory, or pass ${WHOLE_DIR_FLAG} to upload it anyway.`, exitCode: ExitCode.usage });
  }
  if (!(await askYesNo(ctx, `${what}. Upload it? [y/N] `))) {
    throw new UserError('Nothing was uploaded.', { hint: `Run \`catty new\` in a project directory (or pass ${WHOLE_DIR_FLAG} to skip this question).` });
  }
}

/** One key, no Enter needed: y or Y is yes, anything else (Enter, n, Ctrl-C, Ctrl-D) is no. */
export async function askYesNo(ctx: Context, question: string): Promise<boolean> {
  const { stdin, stderr } = ctx;
  const wasRaw = stdin.isRaw === true;
  stdin.setRawMode?.(true);
  stderr.write(question);
  stdin.resume();
  let answer = '';
  try {
    answer = await new Promise<string>((resolve) => {
      const onData = (chunk: Buffer) => done(chunk.toString('utf8'));
      const onEnd = () => done('');
      const done = (text: string) => {
        stdin.off('data', onData);
        stdin.off('end', onEnd);
        resolve(text);
      };
      stdin.on('data', onData);
      stdin.on('end', onEnd);
    });
  } finally {
    stdin.setRawMode?.(wasRaw);
    stdin.pause();
  }
  const yes = /^[yY]/.test(answer);
  stderr.write(`${yes ? 'y' : 'n'}\n`);
  return yes;
}
