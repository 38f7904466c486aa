import { randomBytes } from 'node:crypto';
import { EnvironmentVariables, validateEnv } from './env.schema';
import { loadTestHooks, TestHooks } from './test-hooks';
import { ConfigError } from './validate-settings';

export interface DatabaseTarget {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
}

/**
 * The validated configuration, injected wherever settings are needed (`constructor(private config: AppConfig)`).
 * Built once by `loadConfig`; the only reader of the process environment.
 */
export class AppConfig {
  readonly env: EnvironmentVariables;
  readonly secretKey: string;
  /** True when SECRET_KEY was not given and a random per-run key is in use (development only). */
  readonly secretKeyGenerated: boolean;
  readonly database: DatabaseTarget & { embedded: boolean };
  /** The fault tests' knobs: their defaults unless NODE_ENV=test (see test-hooks.ts). */
  readonly testHooks: TestHooks;

  constructor(
    env: EnvironmentVariables,
    database?: DatabaseTarget & { embedded: boolean },
    testHooks: TestHooks = new TestHooks(),
  ) {
    this.env = env;
    this.testHooks = testHooks;
    const secret = env.SECRET_KEY;
    if (env.NODE_ENV === 'production' && (!secret || Buffer.byteLength(secret, 'utf8') < 32)) {
      throw new ConfigError(
        'Invalid configuration: SECRET_KEY must be set to at least 32 bytes when NODE_ENV=production',
      );
    }
    this.secretKeyGenerated = !secret;
    this.secretKey = secret ?? randomBytes(48).toString('base64url');
    this.database = database ?? {
      host: env.POSTGRES_HOST ?? '',
      port: env.POSTGRES_PORT,
      user: env.POSTGRES_USER,
      password: env.POSTGRES_PASSWORD,
      database: env.POSTGRES_DB,
      embedded: !env.POSTGRES_HOST,
    };
  }

  /** A copy pointing at another database server (the embedded one, once it has a port). */
  withDatabase(target: DatabaseTarget, embedded: boolean): AppConfig {
    const copy = new AppConfig(this.env, { ...target, embedded }, this.testHooks);
    Object.assign(copy, { secretKey: this.secretKey, secretKeyGenerated: this.secretKeyGenerated });
    return copy;
  }

  get isProduction(): boolean {
    return this.env.NODE_ENV === 'production';
  }

  get redis(): { host: string; port: number } | undefined {
    return this.env.REDIS_HOST ? { host: this.env.REDIS_HOST, port: this.env.REDIS_PORT } : undefined;
  }
}

export function loadConfig(source: Record<string, string | undefined>): AppConfig {
  const env = validateEnv(source);
  return new AppConfig(env, undefined, loadTestHooks(source, env.NODE_ENV));
}
