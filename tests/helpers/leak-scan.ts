/**
 * Where a secret is, looked for from the host as an attacker with root would: in a process tree
 * (each process's environment, command line and every readable range of its memory) and in a
 * directory's files (gzipped ones, snapshots, inflated first). The credential tests use it to
 * show the real values are nowhere in a session's machine while placeholders are.
 */
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';

/** Every process under `root` (its descendants too). */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(name)]);
    } catch {
      // gone
    }
  }
  const all: number[] = [];
  const walk = (pid: number): void => {
    all.push(pid);
    for (const child of children.get(pid) ?? []) walk(child);
  };
  walk(root);
  return all;
}

/** Where `needle` is in the process: its environment, command line, or any readable memory range
 * up to `maxRangeBytes` (default 512 MiB). */
export function foundInProcess(pid: number, needle: string, maxRangeBytes = 512 * 1024 * 1024): string[] {
  const hits: string[] = [];
  const bytes = Buffer.from(needle);
  for (const part of ['environ', 'cmdline']) {
    try {
      if (fs.readFileSync(`/proc/${pid}/${part}`).includes(bytes)) hits.push(`${pid} ${part}`);
    } catch {
      // gone
    }
  }
  let maps = '';
  try {
    maps = fs.readFileSync(`/proc/${pid}/maps`, 'utf8');
  } catch {
    return hits;
  }
  let fd: number;
  try {
    fd = fs.openSync(`/proc/${pid}/mem`, 'r');
  } catch (error) {
    throw new Error(`cannot read the memory of ${pid} (${(error as NodeJS.ErrnoException).code}): the test needs to`);
  }
  try {
    for (const line of maps.split('\n')) {
      const m = /^([0-9a-f]+)-([0-9a-f]+) r/.exec(line);
      if (!m || line.includes('[vvar]')) continue;
      const start = BigInt(`0x${m[1]}`);
      const size = Number(BigInt(`0x${m[2]}`) - start);
      if (size > maxRangeBytes) continue;
      const buffer = Buffer.alloc(size);
      try {
        fs.readSync(fd, buffer, 0, size, start);
      } catch {
        continue;
      }
      if (buffer.includes(bytes)) hits.push(`${pid} memory ${line.trim()}`);
    }
  } finally {
    fs.closeSync(fd);
  }
  return hits;
}

/** Files under `root` holding `needle` as they are or, gzipped, once inflated (snapshots). */
export function filesHolding(root: string, needle: string): string[] {
  const hits: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const abs = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(abs);
      else if (entry.isFile()) {
        let data = fs.readFileSync(abs);
        if (data[0] === 0x1f && data[1] === 0x8b) data = zlib.gunzipSync(data);
        if (data.includes(needle)) hits.push(abs);
      }
    }
  };
  walk(root);
  return hits;
}
