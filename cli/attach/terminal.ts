/**
 * Raw mode for the user's terminal while attached, restored on every way out: the normal path
 * calls `restore()` in a finally; a crash or process.exit still runs the 'exit' hook.
 */
import type { Context } from '../context.js';

export interface TerminalGuard {
  readonly raw: boolean;
  restore(): void;
}

export function enterRawMode(ctx: Context): TerminalGuard {
  const { stdin } = ctx;
  const canRaw = stdin.isTTY === true && typeof stdin.setRawMode === 'function';
  const wasRaw = stdin.isRaw === true;
  let restored = false;
  const restore = () => {
    if (restored) return;
    restored = true;
    ctx.proc.off('exit', restore);
    if (canRaw) {
      try {
        stdin.setRawMode?.(wasRaw);
      } catch {
        // the terminal is gone (SIGHUP): nothing left to restore
      }
    }
  };
  if (canRaw) {
    stdin.setRawMode?.(true);
    ctx.proc.on('exit', restore);
  }
  return { raw: canRaw, restore };
}

export function terminalSize(ctx: Context): { cols: number; rows: number } {
  const clamp = (n: number | undefined, fallback: number) => (n && n > 0 ? Math.min(1000, Math.floor(n)) : fallback);
  return { cols: clamp(ctx.stdout.columns, 80), rows: clamp(ctx.stdout.rows, 24) };
}
