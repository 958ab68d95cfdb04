/** Reading a secret: a hidden prompt on a TTY, or all of stdin. */
import type { Readable } from 'node:stream';
import type { Context } from '../context.js';
import { UserError } from '../../session-runtime/wire/errors.js';

const MAX_SECRET_BYTES = 64 * 1024;

export async function readAllStdin(stdin: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stdin) {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    total += buf.length;
    if (total > MAX_SECRET_BYTES) throw new UserError('The secret is too large (64 KiB at most).');
    chunks.push(buf);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Reads one line with echo off; raw mode is restored on every path. */
export async function readHidden(ctx: Context, prompt: string): Promise<string> {
  const { stdin, stderr } = ctx;
  const wasRaw = stdin.isRaw === true;
  // Echo off before the prompt shows: whatever is typed after seeing it must never be echoed.
  stdin.setRawMode?.(true);
  stderr.write(prompt);
  stdin.resume();
  try {
    return await new Promise<string>((resolve, reject) => {
      let value = '';
      const onData = (chunk: Buffer) => {
        for (const ch of chunk.toString('utf8')) {
          if (ch === '\r' || ch === '\n') return finish(() => resolve(value));
          if (ch === '\u0003') return finish(() => reject(new UserError('Cancelled.')));
          if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
          else value += ch;
        }
      };
      const finish = (then: () => void) => {
        stdin.off('data', onData);
        then();
      };
      stdin.on('data', onData);
    });
  } finally {
    stdin.setRawMode?.(wasRaw);
    stdin.pause();
    stderr.write('\n');
  }
}
