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

// The browser view's page (issue 24): api/web/page/main.ts → dist/web/app-<hash>.js and the CSS
// it imports (its own, xterm's, the files view's) → dist/web/app-<hash>.css, minified; the
// terminal and files pages load as chunks (chunk-<hash>.js) only where they are shown, so the
// sessions page does not parse xterm. manifest.json names them all for api/web/serve.ts, which
// serves only those, with a year's cache (the hash changes with the content). The API's contract reaches node: built-ins through the seam; the page gets shims
// (api/web/page/shims/node-builtins.ts) — it only parses answers with the contract's schemas.
{
  const { mkdirSync, readdirSync, rmSync, writeFileSync } = await import('node:fs');
  const { basename, resolve } = await import('node:path');
  const outdir = 'dist/web';
  mkdirSync(outdir, { recursive: true });
  for (const name of readdirSync(outdir)) rmSync(`${outdir}/${name}`, { force: true });
  const shim = resolve('api/web/page/shims/node-builtins.ts');
  const result = await build({
    entryPoints: { app: 'api/web/page/main.ts' },
    outdir,
    entryNames: '[name]-[hash]',
    chunkNames: 'chunk-[hash]',
    splitting: true,
    bundle: true,
    minify: true,
    platform: 'browser',
    format: 'esm',
    target: ['chrome110', 'firefox115', 'safari16'],
    legalComments: 'none',
    metafile: true,
    plugins: [
      {
        name: 'node-builtins',
        setup(b) {
          b.onResolve({ filter: /^node:/ }, () => ({ path: shim }));
        },
      },
    ],
    logLevel: 'warning',
  });
  const outputs = Object.keys(result.metafile.outputs).map((p) => basename(p));
  const js = outputs.find((n) => n.startsWith('app-') && n.endsWith('.js'));
  const css = outputs.find((n) => n.startsWith('app-') && n.endsWith('.css'));
  if (!js || !css) throw new Error(`the page's bundle is missing a file: ${outputs.join(', ')}`);
  const files = outputs.filter((n) => n.endsWith('.js') || n.endsWith('.css'));
  writeFileSync(`${outdir}/manifest.json`, `${JSON.stringify({ 'app.js': js, 'app.css': css, files }, null, 2)}\n`);
}
