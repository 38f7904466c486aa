import { loadConfig } from '../../src/config/app-config';
import { validateEnv } from '../../src/config/env.schema';
import { ConfigError } from '../../src/config/validate-settings';

// The messages the setting decorators (src/config/setting.decorators.ts) give, as the four-decorator
// stacks they replaced gave them: one line per bad variable, a type error before a range error.
const refusal = (env: Record<string, string>): string => {
  try {
    validateEnv(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
  throw new Error('accepted');
};

describe('env schema', () => {
  it.each([
    [{ PORT: 'abc' }, 'PORT must be an integer number'],
    [{ PORT: '1.5' }, 'PORT must be an integer number'],
    [{ PORT: '' }, 'PORT must be an integer number'],
    [{ PORT: '-1' }, 'PORT must not be less than 0'],
    [{ PORT: '65536' }, 'PORT must not be greater than 65535'],
    [{ BCRYPT_COST: '9' }, 'BCRYPT_COST must not be less than 10'],
    [{ PASSWORD_HASH_WORKERS: '33' }, 'PASSWORD_HASH_WORKERS must not be greater than 32'],
    [{ DEBUG: 'maybe' }, 'DEBUG must be a boolean value'],
    [{ ADMIN_EMAIL: 'not-an-email' }, 'ADMIN_EMAIL must be an email'],
    [{ ADMIN_PASSWORD: 'short' }, 'ADMIN_PASSWORD must be longer than or equal to 8 characters'],
    [{ DB_APP_ROLE: 'Bad Role' }, 'DB_APP_ROLE must be a plain lower-case role name or empty'],
  ])('refuses %j: %s', (env, message) => {
    expect(refusal(env)).toBe(`Invalid configuration: ${message}`);
  });

  it('says every bad variable, one line each', () => {
    expect(refusal({ PORT: 'x', DEBUG: 'maybe', BCRYPT_COST: '99' }).split('\n')).toEqual([
      'Invalid configuration: PORT must be an integer number',
      'Invalid configuration: BCRYPT_COST must not be greater than 15',
      'Invalid configuration: DEBUG must be a boolean value',
    ]);
  });

  it('reads integers and booleans from their strings, and empty optional values as unset', () => {
    const env = validateEnv({
      PORT: ' 12 ',
      DEBUG: 'Yes',
      TRANSFER_QUEUE: '',
      ADMIN_EMAIL: ' ',
      DB_APP_ROLE: '',
    });
    expect([env.PORT, env.DEBUG, env.TRANSFER_QUEUE, env.ADMIN_EMAIL, env.DB_APP_ROLE]).toEqual([
      12,
      true,
      false,
      undefined,
      undefined,
    ]);
  });

  it('keeps the defaults', () => {
    const env = validateEnv({});
    expect([env.PORT, env.DB_RUN_MIGRATIONS, env.PASSWORD_HASH_WORKERS, env.DB_APP_ROLE]).toEqual([
      3000,
      true,
      0,
      'hfts_app',
    ]);
  });
});

describe('test hooks', () => {
  it('are not settings: the production schema has none of them', () => {
    const env = validateEnv({ NATS_RELAY_TEST_KILL_AFTER: '5', WEBHOOK_RETRY_SCALE: '0.01' });
    expect(Object.keys(env)).not.toContain('NATS_RELAY_TEST_KILL_AFTER');
    expect(Object.keys(env)).not.toContain('WEBHOOK_RETRY_SCALE');
  });

  it('are read when NODE_ENV=test', () => {
    const config = loadConfig({
      NODE_ENV: 'test',
      NATS_RELAY_TEST_KILL_AFTER: '40',
      WEBHOOK_RETRY_SCALE: '0.01',
    });
    expect(config.testHooks).toEqual({ NATS_RELAY_TEST_KILL_AFTER: 40, WEBHOOK_RETRY_SCALE: '0.01' });
    expect(() => loadConfig({ NODE_ENV: 'test', WEBHOOK_RETRY_SCALE: 'fast' })).toThrow(
      'Invalid configuration: WEBHOOK_RETRY_SCALE must be a decimal number',
    );
  });

  it.each(['development', 'production'])(
    'keep their defaults under NODE_ENV=%s, and refuse any other value',
    (nodeEnv) => {
      const base = { NODE_ENV: nodeEnv, SECRET_KEY: 'x'.repeat(32) };
      expect(
        loadConfig({ ...base, NATS_RELAY_TEST_KILL_AFTER: '0', WEBHOOK_RETRY_SCALE: '1' }).testHooks,
      ).toEqual({
        NATS_RELAY_TEST_KILL_AFTER: 0,
        WEBHOOK_RETRY_SCALE: '1',
      });
      expect(() => loadConfig({ ...base, NATS_RELAY_TEST_KILL_AFTER: '40' })).toThrow(
        new ConfigError(
          'Invalid configuration: NATS_RELAY_TEST_KILL_AFTER is a fault-test hook, read only when NODE_ENV=test',
        ),
      );
    },
  );
});
