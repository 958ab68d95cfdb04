import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * Which folder may import which (DESIGN.md "Dependency direction"): the seam
 * (session-runtime/wire/) imports nothing outside itself; the API's contract (api/contract/)
 * only the seam; cli/ only the API's contract and the seam; api/ only the seam and its own
 * code; the runtime only the seam and the API's contract (its callbacks).
 */
const importsOnly = (...restrictions) => ({
  'no-restricted-imports': ['error', { patterns: restrictions.map(([regex, message]) => ({ regex, message })) }],
});
const NOT_CLI = ['(^|/)cli/', 'Nothing but the CLI imports cli/.'];
const API_ONLY_CONTRACT = ['(^|/)api/(?!contract/)', 'Outside api/, only the API\'s contract (api/contract/) may be imported.'];
const PAGE_NO_NODE = ['^node:', 'The browser page runs in a browser: no Node built-ins.'];
const PAGE_IMPORTS = 'The page imports only the API\'s contract (api/contract/), the seam (session-runtime/wire/) and its own modules.';
const RUNTIME_ONLY_WIRE = ['(^|/)session-runtime/(?!wire/)', 'Outside session-runtime/, only the seam (session-runtime/wire/) may be imported.'];

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: { process: 'readonly', performance: 'readonly', console: 'readonly', Buffer: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', setImmediate: 'readonly', URL: 'readonly', AbortController: 'readonly', fetch: 'readonly' },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-syntax': ['error', { selector: "CallExpression[callee.object.name='process'][callee.property.name='exit']", message: 'Only the bin entry points call process.exit.' }],
    },
  },
  {
    files: ['**/bin.ts', 'tests/**', 'scripts/**', 'infra/**'],
    rules: { 'no-restricted-syntax': 'off' },
  },
  { files: ['cli/**'], rules: importsOnly(API_ONLY_CONTRACT, RUNTIME_ONLY_WIRE) },
  { files: ['api/**'], ignores: ['api/contract/**'], rules: importsOnly(NOT_CLI, RUNTIME_ONLY_WIRE) },
  {
    // catty-node: the egress proxy, its own code, the seam, the API's wire contract (its callback
    // gateway admits the runtime routes and reads presign answers) and a few leaf utilities;
    // nothing of the API's services, state or routes (it runs without them, on other hosts).
    files: ['api/node/**'],
    rules: importsOnly(['^\\.\\./(?!egress/|contract/|logger\\.js$|pid-lock\\.js$|package-root\\.js$|\\.\\./session-runtime/wire/)', 'catty-node imports only api/egress/, api/node/, api/contract/, the seam and leaf utilities (logger, pid-lock, package-root).']),
  },
  {
    files: ['api/contract/**'],
    rules: importsOnly(['^\\.\\./(?!\\.\\./session-runtime/wire/)', 'The API\'s contract imports only the seam (session-runtime/wire/).']),
  },
  { files: ['session-runtime/**'], ignores: ['session-runtime/wire/**'], rules: importsOnly(NOT_CLI, API_ONLY_CONTRACT) },
  { files: ['session-runtime/wire/**'], rules: importsOnly(['^\\.\\./|^\\./.*/', 'The seam (session-runtime/wire/) imports nothing outside itself.']) },
  {
    // The browser page (issue 24): browser globals; it imports the API's contract, the seam, its
    // own modules and browser packages (xterm), never Node's built-ins or the API's server code.
    files: ['api/web/page/**'],
    languageOptions: {
      globals: { window: 'readonly', document: 'readonly', location: 'readonly', navigator: 'readonly', WebSocket: 'readonly', MutationObserver: 'readonly', ResizeObserver: 'readonly', CSSStyleSheet: 'readonly', CustomEvent: 'readonly', HTMLElement: 'readonly', HTMLSpanElement: 'readonly', Element: 'readonly', TextEncoder: 'readonly', fetch: 'readonly', URL: 'readonly' },
    },
    rules: importsOnly(PAGE_NO_NODE, ['^\\.\\./(?!\\.\\./contract/|\\.\\./\\.\\./session-runtime/wire/)', PAGE_IMPORTS]),
  },
  {
    files: ['api/web/page/*/**'],
    rules: importsOnly(PAGE_NO_NODE, ['^\\.\\./\\.\\./(?!\\.\\./contract/|\\.\\./\\.\\./session-runtime/wire/)|^\\.\\./\\.\\./\\.\\./\\.\\./(?!session-runtime/wire/)', PAGE_IMPORTS]),
  },
);
