import { describe, expect, it } from 'vitest';
import { collisionKey, escapeForTerminal, isGitPath, relativePathProblem, resolveInside } from '../../session-runtime/wire/safe-path.js';

describe('relativePathProblem', () => {
  it.each(['a.txt', 'src/a/b.ts', '.github/workflows/ci.yml', 'ünïcode/файл'])('accepts %s', (p) => {
    expect(relativePathProblem(p)).toBeNull();
  });
  it.each([
    ['', 'empty path'],
    ['../x', 'path has an empty, "." or ".." segment'],
    ['a/../../x', 'path has an empty, "." or ".." segment'],
    ['/etc/x', 'absolute path'],
    ['////etc/x', 'absolute path'],
    ['C:\\x', 'backslash in path'],
    ['C:x', 'drive letter in path'],
    ['..\\..\\x', 'backslash in path'],
    ['a\u0000b', 'control character in path'],
    ['a\u001b[31m', 'control character in path'],
    ['a//b', 'path has an empty, "." or ".." segment'],
    ['./a', 'path has an empty, "." or ".." segment'],
    ['x'.repeat(5000), 'path too long'],
    [Array(70).fill('d').join('/'), 'path too deep'],
  ])('refuses %j', (p, why) => {
    expect(relativePathProblem(p)).toBe(why);
  });
});

describe('resolveInside', () => {
  it('keeps paths inside the root and refuses sibling-prefix escapes', () => {
    expect(resolveInside('/workspace', 'a/b')).toBe('/workspace/a/b');
    expect(resolveInside('/workspace', '../workspace2/x')).toBeNull();
    expect(resolveInside('/workspace', '/etc/passwd')).toBeNull();
    expect(resolveInside('/workspace', '.')).toBeNull();
  });
});

describe('isGitPath / collisionKey / escapeForTerminal', () => {
  it('finds .git in any case at any depth', () => {
    expect(isGitPath('.git/config')).toBe(true);
    expect(isGitPath('.GIT/hooks/pre-commit')).toBe(true);
    expect(isGitPath('sub/.Git/config')).toBe(true);
    expect(isGitPath('.github/x')).toBe(false);
  });
  it('folds case and Unicode normalisation', () => {
    expect(collisionKey('Caf\u00e9.txt')).toBe(collisionKey('cafe\u0301.TXT'));
  });
  it('escapes control characters', () => {
    expect(escapeForTerminal('a\u001b]0;pwned\u0007b')).toBe('a\\x1b]0;pwned\\x07b');
  });
});
