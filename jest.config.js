/** Three suites: unit (mocks allowed), integration (the real app over HTTP on real PostgreSQL), properties. */
const transform = {
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
  transformIgnorePatterns: [`/node_modules/(?!(${ESM_ONLY.join('|')})/)`],
  testEnvironment: 'node',
  moduleFileExtensions: ['ts', 'js', 'json'],
};

module.exports = {
  testTimeout: 120000,
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  collectCoverageFrom: ['src/**/*.ts', '!src/main.ts'],
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/test/unit/**/*.spec.ts'] },
    { ...common, displayName: 'integration', testMatch: ['<rootDir>/test/integration/**/*.spec.ts'] },
    { ...common, displayName: 'properties', testMatch: ['<rootDir>/test/properties/**/*.spec.ts'] },
    // Fault injection against real PostgreSQL and Redis processes the suite starts itself (npm run test:faults).
    { ...common, displayName: 'faults', testMatch: ['<rootDir>/test/faults/**/*.spec.ts'] },
    // Real pgbouncer, haproxy and replicas in front of and behind the service (npm run test:scaling).
    { ...common, displayName: 'scaling', testMatch: ['<rootDir>/test/scaling/**/*.spec.ts'] },
  ],
};
