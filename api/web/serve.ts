/**
 * The browser view's page (issue 24), served by the API on its own origin: one HTML shell for
 * every page URL under /app (the page routes itself from location), and the bundle esbuild
 * wrote to dist/web/ (scripts/bundle.mjs) under /app/assets/.
 *
 * The origin holds the sign-in cookie and shows text a session machine wrote (file names,
 * diffs, terminal bytes), so the shell carries a strict Content-Security-Policy: scripts and
 * styles from this origin only, nothing inline (security cases 82–85 in
 * tests/security/README.md). xterm.js writes its measured sizes and theme into `<style>`
 * elements, which this CSP blocks; the page copies their text into a constructable stylesheet
 * instead (api/web/page/terminal/csp-adapter.ts), so styles need no 'unsafe-inline' either.
 *
 * Assets are served only by the names in dist/web/manifest.json (content-hashed, so they are
 * cached for a year); nothing else under dist/ is reachable from here.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Hono, type Context } from 'hono';
import type { AppEnv, Deps } from '../deps.js';
import { APP_PREFIX, SIGNIN_LINK_PATH } from '../contract/routes.js';
import { packageRoot } from '../package-root.js';

export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** What scripts/bundle.mjs writes beside the bundle: entry name → its content-hashed file. */
export interface WebManifest {
  'app.js': string;
  'app.css': string;
  /** Every file of the bundle (the entry's and the chunks it imports). */
  files?: string[];
}

interface Asset {
  body: Uint8Array;
  type: string;
}

interface LoadedAssets {
  manifest: WebManifest;
  /** By served (hashed) name. */
  files: Map<string, Asset>;
}

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

const HASHED_NAME = /^[A-Za-z0-9_-]+\.(js|css)$/;

export function webDistDir(root = packageRoot()): string {
  return join(root, 'dist', 'web');
}

async function loadAssets(dir: string): Promise<LoadedAssets> {
  const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as WebManifest;
  const files = new Map<string, Asset>();
  for (const name of new Set([manifest['app.js'], manifest['app.css'], ...(manifest.files ?? [])])) {
    if (typeof name !== 'string' || !HASHED_NAME.test(name)) throw new Error(`dist/web/manifest.json names an odd file: ${String(name)}`);
    const ext = name.slice(name.lastIndexOf('.'));
    files.set(name, { body: await readFile(join(dir, name)), type: TYPES[ext] ?? 'application/octet-stream' });
  }
  return { manifest, files };
}

function stylesheets(manifest: WebManifest): string[] {
  return [...new Set([manifest['app.css'], ...(manifest.files ?? []).filter((name) => name.endsWith('.css'))])];
}

/** The one HTML shell: a mount point, the stylesheet and the module script. No inline script,
 * no style attribute. */
export function shellHtml(manifest: WebManifest): string {
  return [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    '<meta name="referrer" content="no-referrer">',
    '<title>catty</title>',
    '<link rel="icon" href="data:,">',
    // The entry's CSS, and the CSS of chunks loaded later (esbuild leaves those to the page).
    ...stylesheets(manifest).map((name) => `<link rel="stylesheet" href="${APP_PREFIX}/assets/${name}">`),
    `<script type="module" src="${APP_PREFIX}/assets/${manifest['app.js']}"></script>`,
    '</head>',
    '<body>',
    '<div id="app"></div>',
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

export interface AppPageOptions {
  /** Where the bundle is (default: dist/web/ of the package). */
  distDir?: string;
}

export function appPageRoutes(deps: Deps, options: AppPageOptions = {}): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const dir = options.distDir ?? webDistDir();
  let loading: Promise<LoadedAssets> | null = null;
  const assets = (): Promise<LoadedAssets> => {
    loading ??= loadAssets(dir).catch((err: unknown) => {
      loading = null; // a later build is picked up on the next request
      throw err;
    });
    return loading;
  };

  app.use('*', async (c, next) => {
    await next();
    c.header('Content-Security-Policy', CONTENT_SECURITY_POLICY);
    c.header('X-Content-Type-Options', 'nosniff');
    c.header('Referrer-Policy', 'no-referrer');
    c.header('X-Frame-Options', 'DENY');
    c.header('Cross-Origin-Opener-Policy', 'same-origin');
    c.header('Cross-Origin-Resource-Policy', 'same-origin');
  });

  app.get('/assets/:name', async (c) => {
    const name = c.req.param('name');
    const loaded = await assets().catch(() => null);
    const asset = loaded?.files.get(name);
    if (!asset) {
      c.header('Cache-Control', 'no-store');
      return c.json({ error: { code: 'not_found', message: `no asset ${name}` } }, 404);
    }
    c.header('Cache-Control', 'public, max-age=31536000, immutable');
    c.header('Content-Type', asset.type);
    return c.body(asset.body as Uint8Array<ArrayBuffer>, 200);
  });

  const shell = async (c: Context<AppEnv>, next: () => Promise<void>) => {
    // The one-time sign-in link's consumer is the auth routes' (api/contract/routes.ts).
    if (c.req.path === SIGNIN_LINK_PATH) return next();
    c.header('Cache-Control', 'no-store');
    let loaded: LoadedAssets;
    try {
      loaded = await assets();
    } catch (err) {
      deps.logger.error({ err, dir }, 'the browser page is not built');
      return c.text('The browser page is not built: run `npm run build` (it writes dist/web/).', 503);
    }
    return c.html(shellHtml(loaded.manifest));
  };
  app.get('/', shell);
  app.get('/*', shell);
  return app;
}
