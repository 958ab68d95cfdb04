/**
 * Takes out of an extracted snapshot everything git on the laptop would take for a repository,
 * before the directory is handed over: the session's own `.git` is moved into a private
 * directory for the importer (cli/git-import/ reads it as files; no git ever runs in it), and
 * every other repository is dropped — a `.git` below the top (directory, `gitdir:` file or
 * link), and a directory shaped like one (HEAD beside objects/, refs/ or commondir: git takes
 * it for a bare repository, or a linked worktree's, and a `git status` there, which any
 * git-aware prompt runs on `cd`, would use its config). At the top, where the directory itself
 * cannot be dropped, its HEAD file is. Names are compared as a case-insensitive, HFS+ or NTFS
 * disk would (git's own is_hfs_dotgit/is_ntfs_dotgit), so a snapshot moved to such a disk does
 * not grow a repository. Never follows links (lstat/Dirent types only).
 */
import fs from 'node:fs';
import path from 'node:path';

export interface Separated {
  /** The session's `.git`, moved under the private directory; null when it had none (or not a directory). */
  gitDir: string | null;
  /** Why the top `.git` was not a repository to import (a file, a link…), or null. */
  topGitProblem: string | null;
  /** Relative paths dropped as repositories (a directory ends with `/`; the top's HEAD says why). */
  embedded: string[];
}

/** Code points HFS+ ignores in names: `.g\u200cit` is `.git` there. */
const HFS_IGNORED = /[\u200c-\u200f\u202a-\u202e\u206a-\u206f\ufeff]/g;

/** Whether a disk somewhere would take `name` for `.git`. */
export function isDotGitName(name: string): boolean {
  const folded = name.replace(HFS_IGNORED, '').normalize('NFC').toLowerCase().replace(/[. ]+$/, '');
  return folded === '.git' || /^git~\d+$/.test(folded);
}

/** Whether git would take a directory with these entries for a repository directory. */
function looksLikeGitDir(names: string[]): boolean {
  const folded = new Set(names.map((n) => n.toLowerCase()));
  return folded.has('head') && (folded.has('objects') || folded.has('refs') || folded.has('commondir'));
}

/** Separates the repositories of the extracted tree at `root`; `privateDir` exists, is empty and 0700. */
export function separateRepositories(root: string, privateDir: string): Separated {
  const embedded: string[] = [];
  let gitDir: string | null = null;
  let topGitProblem: string | null = null;
  const top = fs.readdirSync(root);
  const topGit = top.find((n) => n === '.git') ?? top.find(isDotGitName);
  if (topGit !== undefined) {
    const abs = path.join(root, topGit);
    const stat = fs.lstatSync(abs);
    if (stat.isDirectory()) {
      gitDir = path.join(privateDir, 'repository');
      fs.renameSync(abs, gitDir);
    } else {
      topGitProblem = stat.isFile() ? 'it is a file (a pointer to a repository elsewhere)' : 'it is not a directory';
      fs.rmSync(abs, { force: true });
    }
  }
  const walk = (rel: string) => {
    const dir = rel === '' ? root : path.join(root, rel);
    let entries = fs.readdirSync(dir, { withFileTypes: true });
    if (looksLikeGitDir(entries.map((e) => e.name))) {
      if (rel !== '') {
        fs.rmSync(dir, { recursive: true, force: true });
        embedded.push(`${rel}/`);
        return;
      }
      const isHead = (e: fs.Dirent) => e.name.toLowerCase() === 'head';
      for (const head of entries.filter(isHead)) {
        fs.rmSync(path.join(root, head.name), { recursive: true, force: true });
        embedded.push(`${head.name} (the top directory's: beside objects/ or refs/, git would take the directory for a repository)`);
      }
      entries = entries.filter((e) => !isHead(e));
    }
    for (const entry of entries) {
      const childRel = rel === '' ? entry.name : `${rel}/${entry.name}`;
      if (isDotGitName(entry.name)) {
        fs.rmSync(path.join(root, childRel), { recursive: true, force: true });
        embedded.push(childRel);
      } else if (entry.isDirectory()) {
        walk(childRel);
      }
    }
  };
  walk('');
  return { gitDir, topGitProblem, embedded };
}
