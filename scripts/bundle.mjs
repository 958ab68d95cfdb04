// Bundles the two entry points that start once per session — `catty` (the CLI) and
// `catty-session` (the runtime) — into one file each, over tsc's output in dist/.
//
// Why: Node 20 has no compile cache, and loading zod alone is ~95 ES module files (~55 ms);
// measured, the runtime went from ~230 to ~150 ms to its ready line, and each session start pays
// for both processes. Everything else in dist/ stays as tsc wrote it (the API, the launcher,
// every module the tests import). Packages that are native, optional or loaded lazily on
// purpose stay external and load from node_modules as before.
import { build } from 'esbuild';

const EXTERNAL = [
  // native addons
  'node-pty',
  'better-sqlite3',
  '@napi-rs/keyring',
  // ws's optional native helpers
  'bufferutil',
  'utf-8-validate',
  // loaded on demand (screen restore, snapshots, download, progress bar, browser)
  '@xterm/*',
  'tar',
  'cli-progress',
  'open',
  '@aws-sdk/*',
];

for (const entry of ['dist/cli/bin.js', 'dist/session-runtime/bin.js']) {
  await build({
    entryPoints: [entry],
    outfile: entry,
    allowOverwrite: true,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: EXTERNAL,
    // CommonJS dependencies inside an ES module bundle still call require() for builtins.
    banner: { js: "import { createRequire as __cattyCreateRequire } from 'node:module'; const require = __cattyCreateRequire(import.meta.url);" },
    logLevel: 'warning',
  });
}
