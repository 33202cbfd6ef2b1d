import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

// Four layers, run together by `npm test`: unit (in-memory and client mocks), integration (the local
// server and engine over real HTTP), browser (the web console in Chromium), infra (CDK synthesis, which
// bundles every function). A fifth, bench, tests the benchmarks' own code; `npm test` leaves it out
// (`--project '!bench'`) and `npm run test:bench` runs it.
// EMF metric lines would flood the test output; test/unit/metrics.test.ts turns them on to check them.
const env = { POWERTOOLS_METRICS_DISABLED: 'true' };

export default defineConfig({
  test: {
    pool: 'forks',
    // One worker per core: integration files spend much of their time waiting on the servers they
    // spawn, and vitest's default (cores - 1) leaves one of two cores idle (docs/testing.md).
    maxWorkers: availableParallelism(),
    projects: [
      { test: { name: 'unit', env, include: ['test/unit/**/*.test.ts'] } },
      {
        test: {
          name: 'integration',
          env,
          include: ['test/integration/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 60_000,
        },
      },
      {
        // The web console in a real Chromium (the system's: CHROMIUM_PATH, default /usr/bin/chromium);
        // a missing browser fails these tests, it never skips them.
        test: {
          name: 'browser',
          env,
          include: ['test/browser/**/*.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'bench',
          env,
          include: ['test/bench/**/*.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'infra',
          env,
          include: ['test/infra/**/*.test.ts'],
          // The files share one process per worker: aws-cdk-lib and CDK's template validator (a
          // WebAssembly module that takes seconds to compile) load once rather than once per file.
          // Each test builds its own App, so no state passes between files.
          isolate: false,
          testTimeout: 300_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
});
