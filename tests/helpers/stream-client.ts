/**
 * Drives tests/helpers/stream-client.mjs (a terminal client in its own process): spawn it,
 * read its reports, send keystrokes, SIGSTOP/SIGCONT it, read its VmRSS.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { REPO_ROOT } from './paths.js';
import { waitFor } from './wait.js';

export interface StreamStat {
  bytes: number;
  sha256: string;
  tail: Buffer;
}

export class StreamClient {
  readonly proc: ChildProcess;
  last: StreamStat = { bytes: 0, sha256: '', tail: Buffer.alloc(0) };
  helloOffset: number | null = null;
  closeCode: number | null = null;
  readonly events: { ev: string; [k: string]: unknown }[] = [];
  readonly exited: Promise<void>;

  constructor(wsUrl: string, token: string, offset?: number) {
    const script = path.join(REPO_ROOT, 'tests/helpers/stream-client.mjs');
    const args = [script, wsUrl, token, ...(offset !== undefined ? [String(offset)] : [])];
    this.proc = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'] });
    this.exited = new Promise((resolve) => this.proc.once('exit', () => resolve()));
    readline.createInterface({ input: this.proc.stdout! }).on('line', (line) => {
      const e = JSON.parse(line) as { ev: string; bytes?: number; sha256?: string; tail?: string; offset?: number; code?: number };
      if (e.ev === 'stat') this.last = { bytes: e.bytes!, sha256: e.sha256!, tail: Buffer.from(e.tail!, 'base64') };
      else this.events.push(e);
      if (e.ev === 'hello') this.helloOffset = e.offset!;
      if (e.ev === 'close') this.closeCode = e.code!;
    });
  }

  hello(): Promise<number> {
    return waitFor(() => (this.helloOffset !== null ? { o: this.helloOffset } : null), 'stream client hello', { timeoutMs: 15_000, everyMs: 10 }).then((v) => v.o);
  }
  send(data: string | Buffer): void {
    this.proc.stdin!.write(`send ${Buffer.from(data).toString('base64')}\n`);
  }
  tailText(): string {
    return this.last.tail.toString('latin1');
  }
  /** Stops the process (SIGKILL) and waits for it. Idempotent. */
  async kill(): Promise<void> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      this.proc.kill('SIGCONT');
      this.proc.kill('SIGKILL');
    }
    await this.exited;
  }
}
