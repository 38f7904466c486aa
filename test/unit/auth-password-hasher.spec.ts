import { monitorEventLoopDelay } from 'node:perf_hooks';
import bcrypt from 'bcryptjs';
import { PasswordHasher } from '../../src/auth/password-hasher';
import { AppError } from '../../src/common/errors/error-codes';
import { loadConfig } from '../../src/config/app-config';

const config = (env: Record<string, string> = {}) =>
  loadConfig({
    NODE_ENV: 'test',
    SECRET_KEY: 'unit-test-secret-key-long-enough-0123456789',
    BCRYPT_COST: '10',
    ...env,
  });

describe('PasswordHasher (bcrypt on worker threads)', () => {
  let hasher: PasswordHasher;
  beforeAll(() => {
    hasher = new PasswordHasher(config({ PASSWORD_HASH_WORKERS: '2' }));
    hasher.onModuleInit();
  });
  afterAll(async () => {
    await hasher.onApplicationShutdown();
  });

  it('hashes at the configured cost and verifies, in workers', async () => {
    const hash = await hasher.hash('correct horse battery staple');
    expect(hash).toMatch(/^\$2b\$10\$.{53}$/);
    expect(await hasher.verify('correct horse battery staple', hash)).toBe(true);
    expect(await hasher.verify('correct horse battery stapler', hash)).toBe(false);
    // Compatible with bcryptjs on the main thread (what any other tool reading the column would use).
    expect(bcrypt.compareSync('correct horse battery staple', hash)).toBe(true);
  });

  it('runs many operations concurrently across the pool and answers each one correctly', async () => {
    const hash = await hasher.hash('p@ssw0rd-0');
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => hasher.verify(`p@ssw0rd-${i % 2}`, hash)),
    );
    expect(results).toEqual([true, false, true, false, true, false, true, false]);
  });

  it('verifying against the dummy hash always fails', async () => {
    expect(await hasher.verifyAgainstDummy('anything at all')).toBe(false);
  });

  it('never matches a malformed hash; an error inside a worker fails only its own task', async () => {
    expect(await hasher.verify('password', 'not-a-bcrypt-hash')).toBe(false);
    await expect(hasher.verify('password', 42 as unknown as string)).rejects.toThrow(/^bcrypt: /);
    const hash = await hasher.hash('still working');
    expect(await hasher.verify('still working', hash)).toBe(true);
  });

  it('bcrypt reads only 72 bytes: why passwords longer than that are refused at the edge', () => {
    // Documents the library behaviour the 72-byte rule protects against.
    const p72 = 'x'.repeat(72);
    const hash = bcrypt.hashSync(p72, 4);
    expect(bcrypt.compareSync(`${p72}anything`, hash)).toBe(true);
  });
});

describe('PasswordHasher queue bound', () => {
  it('refuses new work with 503 SERVICE_UNAVAILABLE once the queue is full, instead of queueing for ever', async () => {
    // Workers never started: every task waits in the queue.
    const hasher = new PasswordHasher(config({ PASSWORD_HASH_WORKERS: '1' }));
    const queued = Array.from({ length: 32 }, () => hasher.verify('x', 'y'));
    queued.forEach((p) => void p.catch(() => undefined));
    const refused = hasher.verify('x', 'y');
    await expect(refused).rejects.toBeInstanceOf(AppError);
    await expect(refused).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
    await hasher.onApplicationShutdown();
    await expect(queued[0]).rejects.toThrow('password hasher stopped');
  });
});

describe('PasswordHasher and the event loop', () => {
  it('keeps the event loop free while it hashes: the work runs on the workers', async () => {
    const hasher = new PasswordHasher(config({ BCRYPT_COST: '12', PASSWORD_HASH_WORKERS: '2' }));
    hasher.onModuleInit();
    try {
      await hasher.hash('warm up the workers');
      const delay = monitorEventLoopDelay({ resolution: 5 });
      const started = performance.now();
      delay.enable();
      await Promise.all(Array.from({ length: 4 }, (_, i) => hasher.hash(`password ${i}`)));
      delay.disable();
      const elapsed = performance.now() - started;
      // Four cost-12 hashes take hundreds of milliseconds of CPU; on the main thread the loop would be
      // blocked for at least one whole hash (measured: 284 ms p50 for bcryptjs's async API, see the class).
      expect(elapsed).toBeGreaterThan(150);
      expect(delay.max / 1e6).toBeLessThan(100);
    } finally {
      await hasher.onApplicationShutdown();
    }
  });
});
