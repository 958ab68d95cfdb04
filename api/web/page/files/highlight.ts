/**
 * Syntax highlighting as data: a text becomes lines of runs (text + a class name), which the diff
 * view turns into spans with `textContent`. Prism only tokenizes (`Prism.tokenize`); its
 * `highlight()` returns HTML and is never used, because every byte comes from the session
 * machine.
 *
 * The whole text is tokenized once and the token stream is then cut at newlines, so a comment or
 * string spanning lines keeps its colour on each of them and every line stays aligned with the
 * diff's line numbers. Highlighting is skipped (plain text) above HIGHLIGHT_MAX_CHARS or when a
 * line is longer than HIGHLIGHT_MAX_LINE: tokenizing is synchronous and Prism's regular
 * expressions are not bounded in time (measured: 512 KiB of TypeScript takes ~700 ms, 128 KiB
 * ~170 ms, and a diff tokenizes both sides), and minified or generated files gain nothing from
 * colour.
 */
import type { Grammar, Token, TokenStream } from 'prismjs';
import { prism } from './prism.js';

/** One piece of a line: its text and a class name ('' for plain). */
export interface Run {
  text: string;
  cls: string;
}
export type Line = Run[];

export const HIGHLIGHT_MAX_CHARS = 128 * 1024;
export const HIGHLIGHT_MAX_LINE = 2000;

/** Grammar names by file extension (lower case, no dot). */
const BY_EXTENSION: Record<string, string> = {
  ts: 'typescript', mts: 'typescript', cts: 'typescript', tsx: 'tsx', jsx: 'jsx',
  js: 'javascript', mjs: 'javascript', cjs: 'javascript',
  json: 'json', jsonc: 'json', map: 'json', webmanifest: 'json',
  css: 'css',
  html: 'markup', htm: 'markup', xml: 'markup', svg: 'markup', vue: 'markup',
  py: 'python', pyi: 'python',
  sh: 'bash', bash: 'bash', zsh: 'bash',
  go: 'go', rs: 'rust',
  yml: 'yaml', yaml: 'yaml',
  md: 'markdown', markdown: 'markdown',
  c: 'c', h: 'c', cc: 'cpp', cpp: 'cpp', cxx: 'cpp', hpp: 'cpp', hh: 'cpp',
  java: 'java', rb: 'ruby', sql: 'sql', toml: 'toml',
  ini: 'ini', cfg: 'ini', conf: 'ini', env: 'bash',
  diff: 'diff', patch: 'diff', mk: 'makefile',
};
const BY_NAME: Record<string, string> = {
  dockerfile: 'docker', makefile: 'makefile', gnumakefile: 'makefile', '.bashrc': 'bash', '.profile': 'bash', '.gitignore': 'ini',
};

/** The grammar's name for a path, or null (plain text). */
export function languageFor(path: string): string | null {
  const name = (path.slice(path.lastIndexOf('/') + 1)).toLowerCase();
  const byName = BY_NAME[name] ?? (name.startsWith('dockerfile') ? 'docker' : undefined);
  if (byName) return byName;
  const dot = name.lastIndexOf('.');
  if (dot <= 0 && !name.startsWith('.')) return null;
  return BY_EXTENSION[name.slice(dot + 1)] ?? null;
}

const SAFE_CLASS = /^[A-Za-z0-9-]+$/;

function tokenClass(token: Token): string {
  const names = [token.type, ...(Array.isArray(token.alias) ? token.alias : token.alias ? [token.alias] : [])];
  return names.filter((name) => SAFE_CLASS.test(name)).map((name) => `tok-${name}`).join(' ');
}

/** `text` split at '\n' into lines of one plain run each. */
export function plainLines(text: string): Line[] {
  return text.split('\n').map((line) => (line ? [{ text: line, cls: '' }] : []));
}

function tooLongLine(text: string): boolean {
  let start = 0;
  while (start < text.length) {
    const end = text.indexOf('\n', start);
    const stop = end === -1 ? text.length : end;
    if (stop - start > HIGHLIGHT_MAX_LINE) return true;
    start = stop + 1;
  }
  return false;
}

/**
 * `text` as lines (split at '\n', so index i is line i+1) of highlighted runs for the grammar
 * `language`; plain runs when there is no such grammar or the text is over the bounds.
 */
export function highlightLines(text: string, language: string | null): { lines: Line[]; highlighted: boolean } {
  const grammar: Grammar | undefined = language ? prism.languages[language] : undefined;
  if (!grammar || text.length > HIGHLIGHT_MAX_CHARS || tooLongLine(text)) return { lines: plainLines(text), highlighted: false };
  const lines: Line[] = [[]];
  const push = (piece: string, cls: string) => {
    const parts = piece.split('\n');
    parts.forEach((part, index) => {
      if (index > 0) lines.push([]);
      if (part) lines[lines.length - 1]!.push({ text: part, cls });
    });
  };
  const walk = (stream: TokenStream, cls: string) => {
    if (typeof stream === 'string') push(stream, cls);
    else if (Array.isArray(stream)) for (const item of stream) walk(item, cls);
    else walk(stream.content, tokenClass(stream) || cls);
  };
  walk(prism.tokenize(text, grammar), '');
  return { lines, highlighted: true };
}
