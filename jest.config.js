/** Three suites: unit (mocks allowed, no database), integration (the real app over HTTP on real PostgreSQL), properties. */
const transform = {
  // ts-jest transpiles each file alone (ts.transpileModule), with no type check, because tsconfig.json sets
  // isolatedModules: types are checked once by `npm run typecheck` (part of `npm run check`). Measured on the
  // unit project (23 files, 440 tests): 32.6 s CPU with an empty cache, 28.5 s cached, so compiling is
  // about 4 s; the rest is the suites' own work (the simulator's seeds 11.5 s, the dependency-cruiser
  // runs of architecture.spec 7.3 s, the fast path's property tests 5.4 s).
  '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }],
  // A few dependencies ship only ES modules, which Node 20 can require() but jest's module system cannot:
  // jest compiles those to CommonJS.
  '^.+/node_modules/.+\\.m?js$': [
    'ts-jest',
    { tsconfig: { allowJs: true, module: 'commonjs', target: 'ES2022' } },
  ],
};
const ESM_ONLY = ['content-disposition'];
const common = {
  transform,
  // The database suites' server and template: set up once per run, when a project that needs them runs
  // (the unit suite needs no database and starts none).
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  transformIgnorePatterns: [`/node_modules/(?!(${ESM_ONLY.join('|')})/)`],
  testEnvironment: 'node',
  moduleFileExtensions: ['ts', 'js', 'json'],
};

module.exports = {
  testTimeout: 120000,
  collectCoverageFrom: ['src/**/*.ts', '!src/main.ts'],
  projects: [
    {
      ...common,
      globalSetup: undefined,
      globalTeardown: undefined,
      displayName: 'unit',
      testMatch: ['<rootDir>/test/unit/**/*.spec.ts'],
    },
    { ...common, displayName: 'integration', testMatch: ['<rootDir>/test/integration/**/*.spec.ts'] },
    { ...common, displayName: 'properties', testMatch: ['<rootDir>/test/properties/**/*.spec.ts'] },
    // Fault injection against real PostgreSQL and Redis processes the suite starts itself (npm run test:faults).
    { ...common, displayName: 'faults', testMatch: ['<rootDir>/test/faults/**/*.spec.ts'] },
    // Real pgbouncer, haproxy and replicas in front of and behind the service (npm run test:scaling).
    { ...common, displayName: 'scaling', testMatch: ['<rootDir>/test/scaling/**/*.spec.ts'] },
  ],
};
