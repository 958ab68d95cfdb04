// What a soak run must leave as it found it. Other work may run on the same machine, so the
// census is about what this run started: every process descended from the API it spawned
// (sampled while it runs; machines are detached from the API, so they are found early), the
// TCP ports those processes listened on, and the entries of the private TMPDIR the API and
// its machines were given. The machine-wide os.tmpdir() is compared too (a before/after diff,
// reported; under CI=true, where nothing else runs, a diff fails the run).
import fs from 'node:fs';
import os from 'node:os';

/** pid → { ppid, start } for every process, from /proc/<pid>/stat. */
function processTable() {
  const table = new Map();
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      table.set(Number(name), { ppid: Number(fields[1]), start: fields[19] });
    } catch {
      // gone while we looked
    }
  }
  return table;
}

/** Inodes of listening TCP sockets → "host:port" (hex, as /proc/net/tcp has them). */
function listeningInodes() {
  const out = new Map();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols[3] === '0A') out.set(cols[9], cols[1]);
    }
  }
  return out;
}

export class Census {
  constructor(rootPid, privateTmp) {
    this.rootPid = rootPid;
    this.privateTmp = privateTmp;
    /** pid → { start, cmd } of every process seen descending from rootPid. */
    this.seen = new Map();
    /** listening addresses seen held by those processes. */
    this.ports = new Set();
    this.globalTmpBefore = new Set(fs.readdirSync(os.tmpdir()));
  }

  /** Records the current descendants of the root and their listening sockets. */
  sample() {
    const table = processTable();
    const mine = new Set([this.rootPid]);
    // Walk down from the root (the table is small; iterate until no new child is found).
    for (let grew = true; grew; ) {
      grew = false;
      for (const [pid, p] of table) {
        if (!mine.has(pid) && mine.has(p.ppid)) {
          mine.add(pid);
          grew = true;
        }
      }
    }
    // Known processes whose parent died (reparented) stay ours.
    for (const [pid, s] of this.seen) if (table.get(pid)?.start === s.start) mine.add(pid);
    const listening = listeningInodes();
    for (const pid of mine) {
      const p = table.get(pid);
      if (!p) continue;
      if (!this.seen.has(pid)) {
        let cmd = '?';
        try {
          cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim().slice(0, 160);
        } catch {
          // gone
        }
        this.seen.set(pid, { start: p.start, cmd });
      }
      try {
        for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
          const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
          if (m && listening.has(m[1])) this.ports.add(listening.get(m[1]));
        }
      } catch {
        // gone or not ours to read
      }
    }
  }

  /** What is still there: live processes we started, their ports, temp entries. */
  leaks() {
    const table = processTable();
    const processes = [...this.seen].filter(([pid, s]) => table.get(pid)?.start === s.start).map(([pid, s]) => `${pid} ${s.cmd}`);
    const stillListening = new Set(listeningInodes().values());
    const sockets = [...this.ports].filter((a) => stillListening.has(a));
    const tmp = fs.existsSync(this.privateTmp) ? fs.readdirSync(this.privateTmp) : [];
    const globalTmp = fs.readdirSync(os.tmpdir()).filter((t) => !this.globalTmpBefore.has(t));
    return { processes, sockets, tmp, globalTmp };
  }
}
