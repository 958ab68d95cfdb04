/**
 * The built `catty` without a terminal, as scripts run it, and a search of a tree for a secret.
 * Under a real PTY it is tests/helpers/pty.ts.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { CATTY_BIN } from '../helpers/paths.js';

/** Runs `catty` without a terminal and returns its exit code and output. */
export function runCatty(args: string[], options: { cwd: string; env: NodeJS.ProcessEnv; input?: string; timeoutMs?: number }): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CATTY_BIN, ...args], { cwd: options.cwd, env: options.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`catty ${args.join(' ')} timed out\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, options.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 255, stdout, stderr });
    });
    child.stdin.end(options.input ?? '');
  });
}

/** Every file under `root` whose content contains `needle`. */
export function filesContaining(root: string, needle: string): string[] {
  const hits: string[] = [];
  if (!fs.existsSync(root)) return hits;
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const abs = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(abs);
      else if (entry.isFile() && fs.readFileSync(abs).includes(needle)) hits.push(abs);
    }
  };
  walk(root);
  return hits;
}
