// Prints the node_modules paths a production install needs (the lockfile's non-dev packages
// that exist on disk), one per line, outermost only — for infra/build-session-image.sh, which
// tars them into the dev deps image. Run from the package root.
import { existsSync, readFileSync } from 'node:fs';

const lock = JSON.parse(readFileSync('package-lock.json', 'utf8'));
const keys = Object.keys(lock.packages ?? {})
  .filter((key) => key.startsWith('node_modules/'))
  .filter((key) => lock.packages[key].dev !== true && existsSync(key))
  .sort();
const included = new Set();
for (const key of keys) {
  // a/node_modules/b is inside a/ already when a/ is included.
  const parts = key.split('/node_modules/');
  const ancestors = parts.slice(1).map((_, i) => parts.slice(0, i + 1).join('/node_modules/'));
  if (ancestors.some((ancestor) => included.has(ancestor))) continue;
  included.add(key);
}
if (existsSync('node_modules/.bin')) included.add('node_modules/.bin');
process.stdout.write([...included].join('\n') + '\n');
