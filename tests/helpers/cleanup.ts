/**
 * Teardown that belongs to whoever made the resource: `onCleanup(fn)` runs `fn` when the current
 * test finishes, or — called outside a test (a beforeAll, a module's top level) — after the
 * file's last test. Later registrations run first.
 */
import { afterAll, onTestFinished } from 'vitest';

const afterFile: (() => unknown)[] = [];
// Registered while the importing test file is collected: runs after its last test.
afterAll(async () => {
  for (const fn of afterFile.splice(0).reverse()) await fn();
});

export function onCleanup(fn: () => unknown): void {
  try {
    onTestFinished(async () => {
      await fn();
    });
  } catch {
    // Not inside a test.
    afterFile.push(fn);
  }
}
