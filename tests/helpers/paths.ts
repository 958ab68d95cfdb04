/** Where things are: the repository, the built binaries the tests run, and the fixtures. */
import path from 'node:path';

export const REPO_ROOT = path.resolve(import.meta.dirname, '../..');
/** Built by `npm run build`; the tests that spawn a binary need it. */
export const CATTY_BIN = path.join(REPO_ROOT, 'dist/cli/bin.js');
export const API_BIN = path.join(REPO_ROOT, 'dist/api/bin.js');
export const RUNTIME_BIN = path.join(REPO_ROOT, 'dist/session-runtime/bin.js');
export const LAUNCHER_BIN = path.join(REPO_ROOT, 'dist/session-runtime/launcher.js');
export const FIXTURES = path.join(REPO_ROOT, 'tests/fixtures');
export const FIXTURE_AGENTS = path.join(FIXTURES, 'agents');
