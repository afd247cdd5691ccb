/** Jest runs the TypeScript sources through ts-jest; the plugin servers the tests
 * spawn run the compiled JavaScript from `npm run build` (as Kong would).
 *
 * Two projects: `main`, two workers in parallel, and `timing`, the tests that compare
 * run times (linear-time checks, the guard's offload keeping small requests flowing).
 * `npm test` runs `timing` after `main`, one file at a time, so those comparisons are
 * not made while the other worker and its plugin servers load the same 2 cores (they
 * failed that way, intermittently, with correct code). */
const TIMING = [
  'test/shared/redaction/redos.test.ts',
  'test/shared/request/tokens.test.ts',
  'test/shared/request/validate.test.ts',
  'test/llm-guard/core/policy/glob.test.ts',
  'test/llm-guard/core/injection/linearity.test.ts',
  'test/llm-response-guard/core/linearity.test.ts',
  'test/bin/msgpack-decode.test.ts',
  'test/llm-guard/handler.test.ts',
  // 150 ms jobs against a 300 ms timeout: a loaded core stretches them past it
  'test/llm-guard/core/offload.test.ts',
].map((p) => `<rootDir>/${p}`);

const common = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: { isolatedModules: true } }] },
  testTimeout: 30000,
};

module.exports = {
  maxWorkers: 2,
  reporters: ['default', '<rootDir>/test/support/summary-reporter.js'],
  testTimeout: 30000,
  projects: [
    { ...common, displayName: 'main', testMatch: ['**/*.test.ts'], testPathIgnorePatterns: ['/node_modules/', ...TIMING] },
    { ...common, displayName: 'timing', testMatch: TIMING },
  ],
};
