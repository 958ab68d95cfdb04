// Fails when a module of cli/, api/ or session-runtime/ can reach itself through its imports
// (issue 18: a circle hides the direction of a dependency, even a type-only one). Every
// edge counts: `import`, `import type`, `export … from` and `import('…')` of a literal.
// Run by `npm run lint`: ~0.55 s in all, most of it loading typescript; the scan itself is
// ~70 ms for ~150 modules (ts.preProcessFile only scans tokens, it does not parse).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const FOLDERS = ['cli', 'api', 'session-runtime'];

function listTs(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return listTs(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [path] : [];
  });
}

/** `./x.js` → x.ts, `./x` → x.ts or x/index.ts; a package or a non-TS file is no edge. */
function resolveSpecifier(fromFile, specifier) {
  if (!specifier.startsWith('.')) return undefined;
  const target = resolve(dirname(fromFile), specifier);
  const candidates = [target.replace(/\.js$/, '.ts'), `${target}.ts`, join(target, 'index.ts')];
  return candidates.find((candidate) => candidate.endsWith('.ts') && existsSync(candidate));
}

function importGraph(files) {
  const known = new Set(files);
  const graph = new Map();
  for (const file of files) {
    const { importedFiles } = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    const targets = importedFiles
      .map(({ fileName }) => resolveSpecifier(file, fileName))
      .filter((target) => target !== undefined && known.has(target));
    graph.set(file, [...new Set(targets)]);
  }
  return graph;
}

/** Tarjan's strongly connected components; only those that hold a circle are returned. */
function circles(graph) {
  let nextIndex = 0;
  const index = new Map();
  const lowLink = new Map();
  const stack = [];
  const onStack = new Set();
  const found = [];
  const visit = (node) => {
    index.set(node, nextIndex);
    lowLink.set(node, nextIndex);
    nextIndex += 1;
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node)) {
      if (!index.has(next)) {
        visit(next);
        lowLink.set(node, Math.min(lowLink.get(node), lowLink.get(next)));
      } else if (onStack.has(next)) {
        lowLink.set(node, Math.min(lowLink.get(node), index.get(next)));
      }
    }
    if (lowLink.get(node) !== index.get(node)) return;
    const component = [];
    let member;
    do {
      member = stack.pop();
      onStack.delete(member);
      component.push(member);
    } while (member !== node);
    if (component.length > 1 || graph.get(node).includes(node)) found.push(component);
  };
  for (const node of graph.keys()) if (!index.has(node)) visit(node);
  return found;
}

/** One shortest path from `start` back to itself inside its component, to show the circle. */
function onePath(graph, component, start) {
  const members = new Set(component);
  const cameFrom = new Map();
  const queue = [start];
  while (queue.length > 0) {
    const node = queue.shift();
    for (const next of graph.get(node)) {
      if (!members.has(next)) continue;
      if (next === start) {
        const path = [start];
        for (let step = node; step !== start; step = cameFrom.get(step)) path.splice(1, 0, step);
        return [...path, start];
      }
      if (!cameFrom.has(next)) {
        cameFrom.set(next, node);
        queue.push(next);
      }
    }
  }
  return [start];
}

const started = performance.now();
const files = FOLDERS.flatMap((folder) => listTs(join(ROOT, folder)));
const graph = importGraph(files);
const found = circles(graph);
const elapsedMs = Math.round(performance.now() - started);
const name = (file) => relative(ROOT, file);

if (found.length === 0) {
  console.log(`check-cycles: no import circle in ${files.length} modules (${elapsedMs} ms)`);
} else {
  for (const component of found) {
    const sorted = component.map(name).sort();
    console.error(`import circle of ${component.length} module(s): ${sorted.join(', ')}`);
    const start = component.find((file) => name(file) === sorted[0]);
    console.error(`  e.g. ${onePath(graph, component, start).map(name).join(' → ')}`);
  }
  console.error(`check-cycles: ${found.length} import circle(s) in ${files.length} modules`);
  process.exitCode = 1;
}
