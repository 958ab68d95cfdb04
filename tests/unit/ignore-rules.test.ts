import fs from 'node:fs';
import path from 'node:path';
import ignore from 'ignore';
import { describe, expect, it } from 'vitest';
import { IgnoreRules, snapshotExcludes } from '../../session-runtime/wire/ignore-rules.js';
import { tempDir } from '../helpers/temp-dir.js';

function tree(files: Record<string, string>): string {
  const root = tempDir('ignore');
  for (const [rel, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), content);
  }
  return root;
}

describe('IgnoreRules', () => {
  it('applies defaults, nested .gitignore with negations, and .cattyignore', () => {
    const root = tree({
      '.gitignore': '*.log\nbuild/\n',
      'sub/.gitignore': '!keep.log\nsecret.txt\n',
      '.cattyignore': 'big/\n',
    });
    const rules = new IgnoreRules(root, { ignoreGit: false });
    expect(rules.ignores('node_modules', true)).toBe(true);
    expect(rules.ignores('x/node_modules', true)).toBe(true);
    expect(rules.ignores('a.pyc', false)).toBe(true);
    expect(rules.ignores('.env', false)).toBe(true);
    expect(rules.ignores('.env.local', false)).toBe(true);
    expect(rules.ignores('.env.example', false)).toBe(false);
    expect(rules.ignores('app.log', false)).toBe(true);
    expect(rules.ignores('sub/keep.log', false)).toBe(false);
    expect(rules.ignores('sub/other.log', false)).toBe(true);
    expect(rules.ignores('sub/secret.txt', false)).toBe(true);
    expect(rules.ignores('secret.txt', false)).toBe(false);
    expect(rules.ignores('build', true)).toBe(true);
    expect(rules.ignores('big', true)).toBe(true);
    expect(rules.ignores('.git', true)).toBe(false);
    expect(new IgnoreRules(root, { ignoreGit: true }).ignores('.git/config', false)).toBe(true);
    expect(rules.ignoresWithAncestors('build/out/a.js', false)).toBe(true);
  });

  it('a rule file re-includes a default-ignored directory with its files (`!node_modules/`)', () => {
    const root = tree({ '.cattyignore': '!node_modules/\n!.env\n' });
    const rules = new IgnoreRules(root, { ignoreGit: false });
    expect(rules.ignores('node_modules', true)).toBe(false);
    expect(rules.ignoresWithAncestors('node_modules/pkg/index.js', false)).toBe(false);
    expect(rules.ignores('.env', false)).toBe(false);
    expect(rules.ignores('node_modules/pkg/m.pyc', false)).toBe(true);
  });

  it('layers outer .gitignore rules (relative to their own directory) under the root\'s own files', () => {
    const root = tree({ '.gitignore': '!keep.log\n' });
    const outer = [{ rules: ignore().add('*.log\n/app/top.txt\n/top.txt\n'), prefix: 'app' }];
    const rules = new IgnoreRules(root, { ignoreGit: false, outer });
    expect(rules.ignores('x.log', false)).toBe(true);
    expect(rules.ignores('keep.log', false)).toBe(false);
    expect(rules.ignores('top.txt', false)).toBe(true);
    expect(rules.ignores('app/top.txt', false)).toBe(false);
  });

  it('sees a rule file change after invalidate', () => {
    const root = tree({ 'a.txt': 'a' });
    const rules = new IgnoreRules(root, { ignoreGit: false });
    expect(rules.ignores('a.txt', false)).toBe(false);
    fs.writeFileSync(path.join(root, '.gitignore'), 'a.txt\n');
    rules.invalidate('');
    expect(rules.ignores('a.txt', false)).toBe(true);
  });
});

describe('snapshotExcludes', () => {
  it('drops dependency and cache folders but keeps .git and dotfiles', () => {
    expect(snapshotExcludes('node_modules/x/index.js')).toBe(true);
    expect(snapshotExcludes('pkg/__pycache__/m.cpython.pyc')).toBe(true);
    expect(snapshotExcludes('.git/HEAD')).toBe(false);
    expect(snapshotExcludes('.env')).toBe(false);
  });
});
