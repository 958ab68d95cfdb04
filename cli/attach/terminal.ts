/**
 * Raw mode for the user's terminal while attached, restored on every way out: the normal path
 * calls `restore()` in a finally; a crash or process.exit still runs the 'exit' hook.
 */
import type { Context } from '../context.js';

export interface TerminalGuard {
  readonly raw: boolean;
  /** Undoes what the agent may have switched on (alternate screen, mouse reporting, bracketed
   * paste, hidden cursor, colours) and moves below its screen, so what we print next — and the
   * user's shell after us — starts on a clean line. Once; a no-op when stdout is no terminal.
   * `belowScreen`: the agent still runs (a detach), so its screen stays drawn. */
  leave(belowScreen: boolean): void;
  restore(): void;
}

/** Reset for the modes a full-screen agent commonly sets (xterm control sequences). Claude Code
 * switches on focus reporting, theme reports, bracketed paste and the keyboard protocols: left on
 * after a detach, the user's shell would get `^[[I` / `^[[O` on every change of window focus. */
export const LEAVE_SEQUENCE = [
  '\x1b[?1049l', // leave the alternate screen
  '\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1006l', // mouse reporting off
  '\x1b[?1004l', // focus reporting off
  '\x1b[?2031l', // colour-scheme (dark/light) reports off
  '\x1b[?2004l', // bracketed paste off
  '\x1b[<u', // kitty keyboard protocol: pop
  '\x1b[>4m', // xterm modifyOtherKeys: back to the default
  '\x1b7\x1b[r\x1b8', // scroll region: the whole screen again (the cursor stays where it is)
  '\x1b[?1l\x1b>', // normal cursor keys and keypad
  '\x1b[0m\x1b[?25h', // plain attributes, visible cursor
].join('');
/** After a detach the agent's screen stays up: continue below everything it drew. */
export const BELOW_SCREEN = '\x1b[999;1H\r\n';

export function enterRawMode(ctx: Context): TerminalGuard {
  const { stdin } = ctx;
  const canRaw = stdin.isTTY === true && typeof stdin.setRawMode === 'function';
  const wasRaw = stdin.isRaw === true;
  let restored = false;
  let left = false;
  const leave = (belowScreen: boolean) => {
    if (left || ctx.stdout.isTTY !== true) return;
    left = true;
    ctx.stdout.write(belowScreen ? LEAVE_SEQUENCE + BELOW_SCREEN : LEAVE_SEQUENCE);
  };
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
  return { raw: canRaw, leave, restore };
}

export function terminalSize(ctx: Context): { cols: number; rows: number } {
  const clamp = (n: number | undefined, fallback: number) => (n && n > 0 ? Math.min(1000, Math.floor(n)) : fallback);
  return { cols: clamp(ctx.stdout.columns, 80), rows: clamp(ctx.stdout.rows, 24) };
}
