/** The lines `catty new` prints once the upload is done. */
import { escapeForTerminal } from '../../session-runtime/wire/safe-path.js';
import { formatBytes, plural } from '../output.js';
import { includeLine, type PreparedUpload } from './prepare.js';
import type { UploadOutcome } from './upload.js';

/** Tracked files named at most; the rest are counted. */
const MAX_NAMED = 5;

export function uploadSummary(prepared: PreparedUpload, outcome: UploadOutcome, elapsedMs: number): string {
  const { walk } = prepared;
  const uploaded = walk.files.length - outcome.skipped.length;
  const skipped = [
    walk.skippedSymlinks.length > 0 ? plural(walk.skippedSymlinks.length, 'symlink') : '',
    walk.skippedSpecial.length > 0 ? plural(walk.skippedSpecial.length, 'special file') : '',
    walk.skippedUnreadable.length + outcome.skipped.length > 0 ? `${walk.skippedUnreadable.length + outcome.skipped.length} that vanished or could not be read` : '',
  ].filter((part) => part !== '');
  const lines = [
    `Uploaded ${plural(uploaded, 'file')} (${formatBytes(walk.totalBytes)}, ${formatBytes(outcome.zipBytes)} zipped) in ${(elapsedMs / 1000).toFixed(1)} s` +
      (skipped.length > 0 ? `; skipped ${joinAnd(skipped)}.` : '.'),
  ];
  const left = prepared.trackedLeftOut;
  if (left.length > 0) {
    const named = left.slice(0, MAX_NAMED).map(escapeForTerminal).join(', ') + (left.length > MAX_NAMED ? `, and ${left.length - MAX_NAMED} more` : '');
    const it = left.length === 1 ? 'it' : 'them';
    lines.push(`Left out by catty's default ignores, though git tracks ${it} (the session's git will show ${it} as deleted): ${named}`);
    const include = [...new Set(left.map(includeLine))];
    const shown = include.slice(0, MAX_NAMED).map(escapeForTerminal).join('  ') + (include.length > MAX_NAMED ? '  …' : '');
    lines.push(`  To upload ${it}, add ${include.length === 1 ? 'this line' : 'these lines'} to .cattyignore: ${shown}`);
  }
  return lines.join('\n');
}

function joinAnd(parts: string[]): string {
  return parts.length <= 1 ? (parts[0] ?? '') : `${parts.slice(0, -1).join(', ')} and ${parts.at(-1)}`;
}
