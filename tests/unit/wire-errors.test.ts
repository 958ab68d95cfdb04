/** The one error printer (session-runtime/wire/errors.ts): our line breaks print, anything
 * else's control characters — a newline in a file name included — stay escaped. */
import { describe, expect, it } from 'vitest';
import { UserError, reportError } from '../../session-runtime/wire/errors.js';

function printed(error: unknown): string {
  let text = '';
  reportError(error, { program: 'catty', stderr: { write: (s: string) => (text += s) }, debug: false });
  return text;
}

describe('reportError', () => {
  it('prints details on lines of their own, each escaped on its own', () => {
    const error = new UserError('Too big. Largest files:', { details: ['  5.0 MiB  big.bin', '  1.0 MiB  evil\nfake\x1b[2J.txt'], hint: 'Add them to .cattyignore.' });
    expect(printed(error)).toBe('catty: Too big. Largest files:\n      5.0 MiB  big.bin\n      1.0 MiB  evil\\x0afake\\x1b[2J.txt\n  Add them to .cattyignore.\n');
  });

  it('keeps the message and the hint one line each: a newline in them is escaped', () => {
    expect(printed(new UserError('No such file: a\nb', { hint: 'x\ny' }))).toBe('catty: No such file: a\\x0ab\n  x\\x0ay\n');
  });
});
