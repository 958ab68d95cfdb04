/** The upload's size refusals, shared by the preflight check, the zip writer and the upload. */
import { UserError } from '../../session-runtime/wire/errors.js';
import { formatBytes } from '../output.js';
import { MAX_ENTRIES } from './zip-format.js';
import { largestFiles, type WalkResult } from './walk.js';

export function capError(walk: WalkResult, maxBytes: number): UserError {
  // One line per file, as details: the printer escapes a newline inside a name (SECURITY.md 17).
  const biggest = largestFiles(walk.files, 5).map((f) => `${formatBytes(f.size).padStart(10)}  ${f.rel}`);
  return new UserError(
    `The workspace (${walk.files.length} files, ${formatBytes(walk.totalBytes)}) is larger than the upload cap of ${formatBytes(maxBytes)} (compressed). Largest files:`,
    { details: biggest, hint: 'Add them to .cattyignore (or .gitignore), use --no-git, or raise the cap with --max-upload-mb / CATTY_MAX_UPLOAD_MB.' },
  );
}

export function tooManyFilesError(count: number): UserError {
  return new UserError(`Too many files to upload (${count}; at most ${MAX_ENTRIES - 1}).`, { hint: 'Ignore some in .cattyignore.' });
}
