/**
 * The files view's data side (api/web/page/files/: the line diff, the folding and pairing of its
 * rows, the tree's model, highlighting cut into lines), run in Node: the parts the browser cases
 * in files.test.ts reach only through the page, checked here case by case.
 */
import { describe, expect, it } from 'vitest';
import { collapseContext, diffRows, pairRows, splitLines, wholeText } from '../../api/web/page/files/diff-model.js';
import { HIGHLIGHT_MAX_CHARS, HIGHLIGHT_MAX_LINE, highlightLines, languageFor } from '../../api/web/page/files/highlight.js';
import { buildTree } from '../../api/web/page/files/tree-model.js';
import { MAX_TREE_ENTRIES } from '../../session-runtime/wire/protocol.js';

describe('the line diff', () => {
  it('splits lines with the final newline ending the last one', () => {
    expect(splitLines('')).toEqual([]);
    expect(splitLines('a\nb\n')).toEqual(['a', 'b']);
    expect(splitLines('a\nb')).toEqual(['a', 'b']);
    expect(splitLines('\n\n')).toEqual(['', '']);
  });

  it('numbers kept, removed and added lines on their own sides', () => {
    const rows = diffRows(['a', 'b', 'c'], ['a', 'B', 'c', 'd'])!;
    expect(rows).toEqual([
      { kind: 'context', old: 0, new: 0 },
      { kind: 'del', old: 1, new: null },
      { kind: 'add', old: null, new: 1 },
      { kind: 'context', old: 2, new: 2 },
      { kind: 'add', old: null, new: 3 },
    ]);
    expect(pairRows(rows)).toEqual([
      { left: rows[0], right: rows[0] },
      { left: rows[1], right: rows[2] },
      { left: rows[3], right: rows[3] },
      { left: null, right: rows[4] },
    ]);
  });

  it('gives up (null) past its time budget instead of running on', () => {
    const random = (seed: number) => Array.from({ length: 20_000 }, (_, i) => `${seed}-${(i * 2654435761) % 1000003}-${i}`);
    const started = performance.now();
    expect(diffRows(random(1), random(2), 100)).toBeNull();
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('folds unchanged stretches away from changes, keeps short ones open', () => {
    const rows = diffRows(Array.from({ length: 30 }, (_, i) => `l${i}`), Array.from({ length: 30 }, (_, i) => (i === 15 ? 'changed' : `l${i}`)))!;
    const items = collapseContext(rows, 3);
    expect(items.map((item) => (item.type === 'gap' ? `gap ${item.rows.length}` : item.row.kind))).toEqual([
      'gap 12',
      ...Array<string>(3).fill('context'),
      'del',
      'add',
      ...Array<string>(3).fill('context'),
      'gap 11',
    ]);
    // a stretch of three between two changes stays open
    const close = collapseContext(diffRows(['a', 'x', 'y', 'z', 'b'], ['A', 'x', 'y', 'z', 'B'])!, 1);
    expect(close.every((item) => item.type === 'row')).toBe(true);
    expect(wholeText(2, 'add')).toEqual([{ kind: 'add', old: null, new: 0 }, { kind: 'add', old: null, new: 1 }]);
  });
});

describe('the tree model', () => {
  it('puts directories first, makes up the ones a cut list lacks, counts changes below each', () => {
    const model = buildTree({
      base: 'upload',
      truncated: true,
      entries: [
        { path: 'b.txt', kind: 'file', size: 1, change: 'added' },
        { path: 'deep/er/x.ts', kind: 'file', size: 2, change: 'modified' },
        { path: 'a', kind: 'dir', size: 0 },
        { path: 'a/z.md', kind: 'file', size: 3 },
        { path: 'deep/gone.txt', kind: 'file', size: 4, change: 'deleted' },
      ],
    });
    expect(model.children.get('')!.map((n) => `${n.kind} ${n.name}`)).toEqual(['dir a', 'dir deep', 'file b.txt']);
    expect(model.children.get('deep')!.map((n) => n.name)).toEqual(['er', 'gone.txt']);
    expect(model.changed.map((n) => n.path)).toEqual(['b.txt', 'deep/er/x.ts', 'deep/gone.txt']);
    expect(Object.fromEntries(model.changedBelow)).toEqual({ '': 3, deep: 2, 'deep/er': 1 });
    expect(model.fileCount).toBe(4);
  });

  it(`builds ${MAX_TREE_ENTRIES.toLocaleString('en')} entries in under half a second`, () => {
    const entries = Array.from({ length: MAX_TREE_ENTRIES }, (_, i) => ({ path: `d${i % 50}/sub${i % 7}/f${i}.txt`, kind: 'file' as const, size: i }));
    const started = performance.now();
    const model = buildTree({ base: 'upload', truncated: false, entries });
    const ms = performance.now() - started;
    expect(model.fileCount).toBe(MAX_TREE_ENTRIES);
    expect(ms).toBeLessThan(500);
  });
});

describe('highlighting as lines', () => {
  it('keeps a comment over two lines coloured on both, and every line in its place', () => {
    const { lines, highlighted } = highlightLines('const a = 1;\n/* one\n   two */\nlet b;\n', 'typescript');
    expect(highlighted).toBe(true);
    expect(lines).toHaveLength(5);
    expect(lines[1]).toEqual([{ text: '/* one', cls: 'tok-comment' }]);
    expect(lines[2]).toEqual([{ text: '   two */', cls: 'tok-comment' }]);
    expect(lines[0]!.map((run) => run.text).join('')).toBe('const a = 1;');
  });

  it('leaves big texts and long lines plain, and unknown extensions', () => {
    expect(highlightLines('x'.repeat(HIGHLIGHT_MAX_CHARS + 1), 'javascript').highlighted).toBe(false);
    expect(highlightLines(`a\n${'b'.repeat(HIGHLIGHT_MAX_LINE + 1)}\n`, 'javascript').highlighted).toBe(false);
    expect(languageFor('src/a.ts')).toBe('typescript');
    expect(languageFor('Dockerfile')).toBe('docker');
    expect(languageFor('notes.unknown')).toBeNull();
    expect(languageFor('Makefile')).toBe('makefile');
  });
});
