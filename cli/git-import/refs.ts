/**
 * Refs from an untrusted repository, judged before git writes any of them: which names are
 * imported (branches and tags only), the rules of `git check-ref-format` applied here first
 * (cheap, and a name with a NUL or newline never reaches a command line) and then asked of git
 * itself, names that would clash on disk (case, a branch and a directory of the same name)
 * refused, values exactly one object id. `packed-refs` is parsed here, never handed to git.
 */
import { git, type GitResult } from './git.js';

export interface RefValue {
  name: string;
  /** The object id (lowercase hex), or null when the ref is symbolic or unreadable. */
  id: string | null;
}

export interface LeftOut {
  name: string;
  why: string;
}

export const OBJECT_ID = /^[0-9a-f]{40}$/;
const IMPORTED = /^refs\/(heads|tags)\//;
/** Refs judged at most: past this the import is refused (a real project has far fewer). */
export const MAX_REFS = 20_000;
const MAX_NAME_BYTES = 1024;

/** Why `name` breaks git's ref-name rules (git-check-ref-format(1)), or null. */
export function refNameProblem(name: string): string | null {
  if (Buffer.byteLength(name) > MAX_NAME_BYTES) return 'name too long';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0020\u007f~^:?*[\\]/.test(name)) return 'a character git refuses in ref names';
  if (name.includes('..') || name.includes('@{') || name === '@') return 'a sequence git refuses in ref names';
  if (name.startsWith('/') || name.endsWith('/') || name.includes('//') || name.endsWith('.')) return 'a malformed name';
  if (name.split('/').some((part) => part.startsWith('.') || part.endsWith('.lock'))) return 'a component git refuses';
  return null;
}

/** Parses `packed-refs`: `<id> <name>` lines; `^<id>` (peeled) and `#` lines are skipped. */
export function parsePackedRefs(text: string): { refs: RefValue[]; bad: number } {
  const refs: RefValue[] = [];
  let bad = 0;
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#') || line.startsWith('^')) continue;
    const space = line.indexOf(' ');
    const id = space < 0 ? '' : line.slice(0, space);
    if (!OBJECT_ID.test(id)) {
      bad++;
      continue;
    }
    refs.push({ name: line.slice(space + 1), id });
  }
  return { refs, bad };
}

/** The value of a loose ref file: an object id, or null (symbolic, or not a ref at all). */
export function parseLooseRef(text: string): string | null {
  const value = text.replace(/\n$/, '');
  return OBJECT_ID.test(value) ? value : null;
}

/**
 * Splits refs into those that may be written and those left out (with the reason): only
 * refs/heads/* and refs/tags/*, names git accepts, an object id each, no two names that one
 * disk would take for the same file or that cannot both exist (`a` and `a/b`).
 */
export async function judgeRefs(refs: RefValue[], gitDir: string, env: NodeJS.ProcessEnv): Promise<{ keep: { name: string; id: string }[]; leftOut: LeftOut[] }> {
  const leftOut: LeftOut[] = [];
  const candidates: { name: string; id: string }[] = [];
  for (const ref of refs) {
    const why = !IMPORTED.test(ref.name)
      ? 'only branches and tags are imported'
      : refNameProblem(ref.name) ?? (ref.id === null ? 'not an object id (a symbolic ref, or damaged)' : null);
    if (why) leftOut.push({ name: ref.name, why });
    else candidates.push({ name: ref.name, id: ref.id as string });
  }
  const verdicts = await checkRefFormat(candidates.map((c) => c.name), gitDir, env);
  const keep: { name: string; id: string }[] = [];
  const byKey = new Map<string, string>();
  for (const [i, ref] of candidates.entries()) {
    if (!verdicts[i]) {
      leftOut.push({ name: ref.name, why: 'git check-ref-format refuses the name' });
      continue;
    }
    const key = ref.name.normalize('NFC').toLowerCase();
    const same = byKey.get(key);
    if (same !== undefined) {
      leftOut.push({ name: ref.name, why: `the same file on disk as ${same}` });
      continue;
    }
    byKey.set(key, ref.name);
    keep.push(ref);
  }
  // `refs/heads/a` and `refs/heads/a/b` cannot both exist: the deeper one goes.
  const keys = new Set(byKey.keys());
  const kept = keep.filter((ref) => {
    const parts = ref.name.normalize('NFC').toLowerCase().split('/');
    for (let depth = 3; depth < parts.length; depth++) {
      const parent = parts.slice(0, depth).join('/');
      if (keys.has(parent)) {
        leftOut.push({ name: ref.name, why: `${byKey.get(parent)} is a ref, not a directory` });
        return false;
      }
    }
    return true;
  });
  return { keep: kept, leftOut };
}

/** `git check-ref-format` of each name (a few at a time): true where git accepts it. */
async function checkRefFormat(names: string[], gitDir: string, env: NodeJS.ProcessEnv): Promise<boolean[]> {
  const verdicts: boolean[] = new Array<boolean>(names.length).fill(false);
  let next = 0;
  const worker = async () => {
    while (next < names.length) {
      const i = next++;
      const result: GitResult = await git(['check-ref-format', names[i] as string], { gitDir, env });
      verdicts[i] = result.code === 0;
    }
  };
  await Promise.all(Array.from({ length: Math.min(8, names.length) }, worker));
  return verdicts;
}
