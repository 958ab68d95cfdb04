import { defineConfig } from 'vitest/config';

// Two projects: `fast` is `npm test` (unit, integration, e2e, security; < ~10 minutes here),
// `slow` is `npm run test:slow` (fault injection, Docker), which CI runs after it.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'fast',
          include: ['tests/{unit,integration,e2e,security}/**/*.test.ts', 'tests/browser/**/*.test.ts'],
          testTimeout: 30_000,
          hookTimeout: 60_000,
          pool: 'forks',
        },
      },
      {
        test: {
          name: 'slow',
          include: ['tests/{faults,docker,swarm,replicas}/**/*.test.ts'],
          testTimeout: 180_000,
          hookTimeout: 300_000,
          pool: 'forks',
          fileParallelism: false,
        },
      },
    ],
  },
});
