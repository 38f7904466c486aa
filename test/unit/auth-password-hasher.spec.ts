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
  // Not timed (a shared machine makes any latency bound flaky): the proof that hashing leaves the event
  // loop free is that bcrypt never runs on this thread while hashes and checks succeed.
  it('hashes and verifies on worker threads: bcrypt never runs on the main thread', async () => {
    const spies = (['hash', 'hashSync', 'compare', 'compareSync', 'genSalt', 'genSaltSync'] as const).map(
      (name) => jest.spyOn(bcrypt, name),
    );
    const hasher = new PasswordHasher(config({ BCRYPT_COST: '10', PASSWORD_HASH_WORKERS: '2' }));
    hasher.onModuleInit();
    let hashes: string[];
    let checks: boolean[];
    try {
      hashes = await Promise.all(Array.from({ length: 4 }, (_, i) => hasher.hash(`password ${i}`)));
      checks = await Promise.all([hasher.verify('password 1', hashes[1]), hasher.verify('wrong', hashes[2])]);
      for (const spy of spies) expect(spy).not.toHaveBeenCalled();
    } finally {
      for (const spy of spies) spy.mockRestore();
      await hasher.onApplicationShutdown();
    }
    expect(checks).toEqual([true, false]);
    expect(hashes.every((h, i) => bcrypt.compareSync(`password ${i}`, h))).toBe(true);
  });
});
