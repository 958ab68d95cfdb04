/** An interactive session picker on a TTY: arrows (or j/k) move, Enter picks, q/Esc/Ctrl-C cancels. */
import type { Session } from '../../api/contract/schemas.js';
import type { Context } from '../context.js';
import { formatAge } from '../output.js';
import { escapeForTerminal } from '../../session-runtime/wire/safe-path.js';
import { enterRawMode } from './terminal.js';

export async function pickSession(ctx: Context, sessions: Session[]): Promise<string | null> {
  const out = ctx.stderr;
  let index = 0;
  const render = (first: boolean) => {
    if (!first) out.write(`\x1b[${sessions.length + 1}A`);
    out.write('\x1b[KPick a session (↑/↓, Enter; q to cancel):\r\n');
    sessions.forEach((s, i) => {
      const line = `${escapeForTerminal(s.label)}  ${s.status}  ${formatAge(Date.now() - Date.parse(s.createdAt))}`;
      out.write(`\x1b[K${i === index ? ctx.colors.cyan(`> ${line}`) : `  ${line}`}\r\n`);
    });
  };
  const terminal = enterRawMode(ctx);
  render(true);
  try {
    return await new Promise<string | null>((resolve) => {
      const onData = (chunk: Buffer) => {
        // One chunk may hold several keys (typed fast, or pasted): walk it.
        const text = chunk.toString('utf8');
        for (let i = 0; i < text.length; i++) {
          const rest = text.slice(i);
          if (rest.startsWith('\x1b[A') || rest.startsWith('\x1bOA') || rest[0] === 'k') {
            index = (index + sessions.length - 1) % sessions.length;
            if (rest[0] === '\x1b') i += 2;
          } else if (rest.startsWith('\x1b[B') || rest.startsWith('\x1bOB') || rest[0] === 'j') {
            index = (index + 1) % sessions.length;
            if (rest[0] === '\x1b') i += 2;
          } else if (rest[0] === '\r' || rest[0] === '\n') {
            return done(sessions[index]?.label ?? null);
          } else if (rest[0] === 'q' || rest[0] === '\x1b' || rest[0] === '\x03') {
            return done(null);
          }
        }
        render(false);
      };
      const done = (value: string | null) => {
        ctx.stdin.off('data', onData);
        resolve(value);
      };
      ctx.stdin.on('data', onData);
      ctx.stdin.resume();
    });
  } finally {
    ctx.stdin.pause();
    terminal.restore();
  }
}
