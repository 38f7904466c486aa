/**
 * The layout's rules (README "Layout", docs/ARCHITECTURE.md), checked by `npm run depcruise` (part of
 * `npm run check`, run by CI). test/unit/architecture.spec.ts shows that each rule fails on a wrong
 * import (test/fixtures/depcruise/), and keeps the one rule an import graph cannot see: only the engine
 * writes balances.
 *
 * The arrows point down: main.ts -> bootstrap/ -> app.module -> features (auth, users, wallets,
 * transfers, health) -> shared modules (metrics, redis, lifecycle, database, config) -> common/.
 */
const FEATURES = '(auth|users|wallets|transfers|health|events|webhooks)';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment:
        'A file-level import cycle. Fix the direction of one arrow; never paper over it with forwardRef.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'no-folder-circular',
      severity: 'error',
      comment:
        'Two folders of src/ import each other (e.g. users -> auth -> users): one of them is the lower layer.',
      scope: 'folder',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'feature-not-to-bootstrap',
      severity: 'error',
      comment:
        'A feature never imports the bootstrap or the app module: they compose the features, not the reverse.',
      from: { path: `^src/${FEATURES}/` },
      to: { path: '^src/(bootstrap/|app\\.module\\.ts$|main\\.ts$)' },
    },
    {
      name: 'only-bootstrap-to-app-module',
      severity: 'error',
      comment:
        'The app module and bootstrap/ are the top of the graph: only main.ts, bootstrap/ and the app module reach them.',
      from: { pathNot: '^src/(bootstrap/|main\\.ts$|app\\.module\\.ts$)' },
      to: { path: '^src/(bootstrap/|app\\.module\\.ts$|main\\.ts$)' },
    },
    {
      name: 'common-and-config-import-no-feature',
      severity: 'error',
      comment: 'common/ and config/ sit below every feature and module of the app.',
      from: { path: '^src/(common|config)/' },
      to: {
        path: `^src/(${FEATURES.slice(1, -1)}|bootstrap|metrics|redis|lifecycle)/|^src/app\\.module\\.ts$`,
      },
    },
    {
      name: 'common-is-the-bottom',
      severity: 'error',
      comment:
        'common/ imports nothing else of src/ (database/ maps pg errors for the problem filter through the app module).',
      from: { path: '^src/common/' },
      to: { path: '^src/', pathNot: '^src/common/' },
    },
    {
      name: 'wallets-and-users-not-to-transfers',
      severity: 'error',
      comment:
        'transfers -> wallets -> users, never back: wallets and users know nothing of money movements.',
      from: { path: '^src/(wallets|users)/' },
      to: { path: '^src/transfers/' },
    },
    {
      name: 'features-not-to-auth',
      severity: 'error',
      comment: 'auth -> users. Features use the decorators in common/auth/, never the auth module itself.',
      from: { path: '^src/(users|wallets|transfers|health)/' },
      to: { path: '^src/auth/' },
    },
    {
      name: 'health-only-reports',
      severity: 'error',
      comment:
        'Nothing depends on health/ (metrics, Redis and lifecycle have their own modules); only the app module mounts it.',
      from: { pathNot: '^src/(health/|app\\.module\\.ts$)' },
      to: { path: '^src/health/' },
    },
    {
      name: 'engine-behind-transfers',
      severity: 'error',
      comment:
        'Only the engine writes balances, and only transfers/ reaches the engine (and the simulator, which runs it on its in-memory store).',
      from: { path: '^src/', pathNot: '^src/(transfers|simulator)/' },
      to: { path: '^src/transfers/engine/' },
    },
    {
      name: 'nothing-runs-the-simulator',
      severity: 'error',
      comment: 'The simulator (npm run simulate, its tests) drives the app; the app never reaches it.',
      from: { path: '^src/', pathNot: '^src/simulator/' },
      to: { path: '^src/simulator/' },
    },
    {
      name: 'src-not-to-test',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^test/' },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      comment: 'An import that resolves to nothing (a moved file, a package that is not installed).',
      from: {},
      to: { couldNotResolve: true },
    },
    {
      name: 'not-to-dev-dependencies',
      severity: 'error',
      comment: 'src/ runs in production, where devDependencies are not installed.',
      from: { path: '^src/' },
      to: { dependencyTypes: ['npm-dev'], dependencyTypesNot: ['type-only'] },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // `import type` counts too: a type-only import still ties two modules' designs together.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },
  },
};
