import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { EnvironmentVariables } from '../../src/config/env.schema';

// No Docker engine runs here: the container files are checked statically.
const root = join(__dirname, '..', '..');
const read = (name: string): string => readFileSync(join(root, name), 'utf8');
const knownVariables = Object.keys(new EnvironmentVariables());

interface ComposeService {
  image?: string;
  build?: unknown;
  ports?: string[];
  profiles?: string[];
  environment?: Record<string, string>;
  healthcheck?: { test: unknown };
  depends_on?: Record<string, { condition: string }> | string[];
}

describe('docker-compose.yml', () => {
  const compose = parse(read('docker-compose.yml')) as { services: Record<string, ComposeService> };

  it('has postgres, redis, the app and pgadmin', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['app', 'pgadmin', 'postgres', 'redis']);
    expect(compose.services.app.ports).toEqual(['3000:3000']);
    expect(compose.services.postgres.image).toMatch(/^postgres:/);
    expect(compose.services.redis.image).toMatch(/^redis:/);
  });

  it('puts only pgadmin under the admin profile', () => {
    const profiled = Object.entries(compose.services).filter(([, s]) => s.profiles);
    expect(profiled.map(([name, s]) => [name, s.profiles])).toEqual([['pgadmin', ['admin']]]);
  });

  it('starts the app only once its dependencies are healthy', () => {
    expect(compose.services.postgres.healthcheck).toBeDefined();
    expect(compose.services.redis.healthcheck).toBeDefined();
    expect(compose.services.app.depends_on).toEqual({
      postgres: { condition: 'service_healthy' },
      redis: { condition: 'service_healthy' },
    });
  });

  it('passes the app only variables the service knows, with a required SECRET_KEY', () => {
    const env = compose.services.app.environment ?? {};
    expect(Object.keys(env).filter((k) => !knownVariables.includes(k))).toEqual([]);
    expect(env.POSTGRES_HOST).toBe('postgres');
    expect(env.SECRET_KEY).toMatch(/:\?/);
  });
});

describe('Dockerfile', () => {
  const dockerfile = read('Dockerfile');

  it('builds in one stage and runs production dependencies as a non-root user in another', () => {
    expect(dockerfile.match(/^FROM /gm)).toHaveLength(2);
    expect(dockerfile).toMatch(/npm ci --omit=dev/);
    expect(dockerfile).toMatch(/^USER node$/m);
    expect(dockerfile).toMatch(/^HEALTHCHECK .*\n.*\/health\/live/m);
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

  it('points at the contract in the repository, which exists', () => {
    expect(readme).toMatch(/\(docs\/API\.md\)/);
    expect(readme).not.toMatch(/shared\/API\.md/);
    expect(read('docs/API.md')).toMatch(/^# /m);
  });
});
