/** The installed package's root (where package.json, dist/ and node_modules/ are), found by
 * walking up from this module: works from source (vitest) and from dist/. */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export function packageRoot(from = dirname(fileURLToPath(import.meta.url))): string {
  let dir = from;
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      try {
        if ((JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'catty') return dir;
      } catch {
        // keep walking
      }
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`cannot find the catty package root above ${from}`);
    dir = parent;
  }
}

export const runtimeBinPath = (root = packageRoot()): string => join(root, 'dist', 'session-runtime', 'bin.js');
