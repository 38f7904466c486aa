import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

// The layout's rules (.dependency-cruiser.cjs) and the one an import graph cannot see: only the engine
// writes balances (STYLE.md habit 5: version-checked SQL inside the engine's transaction, never save()).
const root = join(__dirname, '..', '..');
const ENGINE = 'src/transfers/engine/';

function sourceFiles(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true }).flatMap((entry) => {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

interface Finding {
  file: string;
  line: number;
  text: string;
}

function findAll(file: string, source: string, pattern: RegExp): Finding[] {
  return [...source.matchAll(new RegExp(pattern.source, `${pattern.flags.replace('g', '')}g`))].map((m) => {
    const line = source.slice(0, m.index).split('\n').length;
    return { file, line, text: m[0].replace(/\s+/g, ' ') };
  });
}

/**
 * SQL that writes a wallet's money: an UPDATE of wallets that sets its balance or held, and an insert that
 * turns into an update on conflict. (Bumping a wallet's version under its lock, as limits, monitors and a
 * status change do so the engine's version check sees them, moves no money.)
 */
const SQL_WALLET_WRITES = [
  /\bUPDATE\s+wallets\b(\s+\w+)?\s+SET\b[^;`'"]*?\b(balance|held)\s*=/i,
  /\bINSERT\s+INTO\s+wallets\b[^;`'"]*?\bDO\s+UPDATE\b/i,
];

/**
 * TypeORM writes of the Wallet entity, as far as text shows them: an entity manager's write naming Wallet,
 * a balance or held assigned on an object, and in a file holding the wallets repository any write call, or
 * any balance or held that is not the zero a new wallet starts at.
 */
const ORM_WALLET_WRITES = [
  /\.(save|update|upsert|insert|increment|decrement|merge|preload)\s*\(\s*Wallet\b/,
  /\.(balance|held)\s*(\+|-|\*|\/)?=(?!=)/,
];
const HOLDS_WALLET_REPOSITORY =
  /Repository\s*<\s*Wallet\s*>|getRepository\s*\(\s*Wallet\s*\)|InjectRepository\s*\(\s*Wallet\s*\)/;
const REPOSITORY_WRITES = [
  /\.(save|update|upsert|increment|decrement|merge|preload|orUpdate|set)\s*\(/,
  /\b(balance|held)\s*:(?!\s*Money\.ZERO\b)/,
];

function balanceWrites(file: string, source: string): Finding[] {
  const patterns = [
    ...SQL_WALLET_WRITES,
    ...ORM_WALLET_WRITES,
    ...(HOLDS_WALLET_REPOSITORY.test(source) ? REPOSITORY_WRITES : []),
  ];
  return patterns.flatMap((pattern) => findAll(file, source, pattern));
}

describe('only the engine writes balances', () => {
  const files = sourceFiles('src').map((file) => ({ file, source: readFileSync(join(root, file), 'utf8') }));

  it('finds every SQL UPDATE of wallets in src/ inside src/transfers/engine/', () => {
    const updates = files.flatMap(({ file, source }) => findAll(file, source, SQL_WALLET_WRITES[0]));
    expect(updates.length).toBeGreaterThan(0); // the engine's own statement: the scan sees SQL at all
    expect(updates.filter((u) => !u.file.startsWith(ENGINE))).toEqual([]);
  });

  it('finds no write of a wallet outside the engine, in SQL or through TypeORM', () => {
    const outside = files.filter(({ file }) => !file.startsWith(ENGINE));
    expect(outside.flatMap(({ file, source }) => balanceWrites(file, source))).toEqual([]);
  });

  it.each([
    ['an UPDATE in any case and spacing', 'await q(`update\n    WALLETS set balance = 0`)'],
    ['a balance set after a version bump', 'q(`UPDATE wallets w SET version = w.version + 1, held = 0`)'],
    ['an upsert', "q('INSERT INTO wallets (id) VALUES ($1) ON CONFLICT (id) DO UPDATE SET balance = 0')"],
    ['an entity manager write', 'await manager.update(Wallet, { id }, { balance })'],
    ['an assignment', 'wallet.balance = wallet.balance.plus(amount);'],
    [
      'a save on the wallets repository',
      '@InjectRepository(Wallet) r: Repository<Wallet>; f() { this.r.save(w); }',
    ],
    ['a new wallet that does not start at zero', 'Repository<Wallet>; values({ userId, balance: amount })'],
  ])('would catch %s', (_what, source) => {
    expect(balanceWrites('src/wallets/wrong.ts', source)).not.toEqual([]);
  });

  it('lets a version bump under the lock through (limits, monitors, a status change)', () => {
    const source = 'q(`UPDATE wallets SET version = version + 1, overdraft_limit = $2 WHERE id = $1`)';
    expect(balanceWrites('src/wallets/wallet-lock.ts', source)).toEqual([]);
  });

  it('lets a new wallet start at zero', () => {
    const source =
      'Repository<Wallet>; insert().values({ userId, currency, balance: Money.ZERO, held: Money.ZERO })';
    expect(balanceWrites('src/wallets/wallets.repository.ts', source)).toEqual([]);
  });
});

interface Violation {
  rule: string;
  severity: string;
  from: string;
  to: string;
}

/** dependency-cruiser's API with the project's rules, in a child process (it is ES modules only). */
function cruise(cwd: string, dir: string): Violation[] {
  const out = execFileSync(
    process.execPath,
    [join(root, 'test/support/cruise.mjs'), join(root, '.dependency-cruiser.cjs'), dir],
    { cwd, encoding: 'utf8' },
  );
  return JSON.parse(out) as Violation[];
}

describe('the dependency rules (.dependency-cruiser.cjs)', () => {
  it('report every deliberately wrong import of test/fixtures/depcruise', () => {
    const found = cruise(join(root, 'test/fixtures/depcruise'), 'src')
      .filter((v) => v.severity === 'error')
      .map((v) => `${v.rule}: ${v.from} -> ${v.to.replace(/^.*node_modules\//, 'node_modules/')}`)
      .sort();
    expect(found).toEqual(
      [
        'common-and-config-import-no-feature: src/common/money.ts -> src/users/users.service.ts',
        'common-and-config-import-no-feature: src/config/app-config.ts -> src/auth/auth.service.ts',
        'common-is-the-bottom: src/common/money.ts -> src/users/users.service.ts',
        'engine-behind-transfers: src/wallets/wallets.service.ts -> src/transfers/engine/engine.repository.ts',
        'feature-not-to-bootstrap: src/health/health.controller.ts -> src/bootstrap/create-app.ts',
        'features-not-to-auth: src/users/users.controller.ts -> src/auth/current-user.ts',
        'health-only-reports: src/transfers/transfers.module.ts -> src/health/health.controller.ts',
        'no-circular: src/users/users.repository.ts -> src/users/users.service.ts',
        'no-folder-circular: src/auth -> src/users',
        'no-folder-circular: src/users -> src/auth',
        'nothing-runs-the-simulator: src/transfers/prod.ts -> src/simulator/cli.ts',
        'not-to-dev-dependencies: src/transfers/prod.ts -> node_modules/supertest/index.js',
        'not-to-unresolvable: src/transfers/transfers.module.ts -> ./moved-away',
        'only-bootstrap-to-app-module: src/health/health.controller.ts -> src/bootstrap/create-app.ts',
        'src-not-to-test: src/transfers/prod.ts -> test/helper.ts',
        'wallets-and-users-not-to-transfers: src/wallets/wallets.service.ts -> src/transfers/engine/engine.repository.ts',
        'wallets-and-users-not-to-transfers: src/wallets/wallets.service.ts -> src/transfers/transfer.service.ts',
      ].sort(),
    );
  });

  it('find no error in src/', () => {
    const errors = cruise(root, 'src').filter((v) => v.severity === 'error');
    expect(errors).toEqual([]);
  });

  // Keeps the rules and the fixture honest with each other: a rule added without a wrong import that
  // shows it failing makes this test fail.
  it('have a wrong import in the fixture for every error rule', () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const config = require(join(root, '.dependency-cruiser.cjs')) as {
      forbidden: { name: string; severity: string }[];
    };
    const shown = new Set(cruise(join(root, 'test/fixtures/depcruise'), 'src').map((v) => v.rule));
    expect(
      config.forbidden.filter((r) => r.severity === 'error' && !shown.has(r.name)).map((r) => r.name),
    ).toEqual([]);
  });
});
