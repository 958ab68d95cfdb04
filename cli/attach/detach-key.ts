/** The key that detaches from a session (`--detach-key`): Ctrl-] by default, like telnet. */
import { InvalidArgumentError } from 'commander';

export const DEFAULT_DETACH_KEY = 0x1d; // Ctrl-]

/** "ctrl-]" / "ctrl-x" / "^x" → the control byte it sends (a commander `argParser`). */
export function parseDetachKey(text: string): number {
  const m = /^(?:ctrl[-+]|c-|\^)(.)$/i.exec(text.trim());
  if (!m || m[1] === undefined) throw new InvalidArgumentError('expected a key like ctrl-] or ctrl-x');
  const ch = m[1];
  const code = ch.toUpperCase().charCodeAt(0);
  // Control bytes are the key with bit 6 cleared: @A-Z[\]^_ → 0x00–0x1f.
  if (code < 0x40 || code > 0x5f) throw new InvalidArgumentError('expected ctrl- followed by a letter or one of @[\\]^_');
  return code & 0x1f;
}

export function describeDetachKey(byte: number): string {
  return `Ctrl-${String.fromCharCode(byte | 0x40)}`;
}
