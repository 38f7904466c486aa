import { TtlCache } from '../../src/users/ttl-cache';

describe('TtlCache (the user status cache)', () => {
  let now = 0;
  const clock = () => now;
  beforeEach(() => {
    now = 1_000;
  });

  it('serves a cached value until the TTL has passed, then loads again', async () => {
    const cache = new TtlCache<string, string>(2000, 10, clock);
    const load = jest.fn().mockResolvedValueOnce('ACTIVE').mockResolvedValueOnce('SUSPENDED');
    expect(await cache.get('u1', load)).toBe('ACTIVE');
    now += 1999;
    expect(await cache.get('u1', load)).toBe('ACTIVE');
    now += 1;
    expect(await cache.get('u1', load)).toBe('SUSPENDED');
    expect(load).toHaveBeenCalledTimes(2);
  });

  it('shares one load between concurrent reads of a missing key', async () => {
    const cache = new TtlCache<string, number>(1000, 10, clock);
    let resolve!: (v: number) => void;
    const load = jest.fn(() => new Promise<number>((r) => (resolve = r)));
    const reads = [cache.get('k', load), cache.get('k', load), cache.get('k', load)];
    resolve(7);
    expect(await Promise.all(reads)).toEqual([7, 7, 7]);
    expect(load).toHaveBeenCalledTimes(1);
  });

  it('does not keep a failed load', async () => {
    const cache = new TtlCache<string, number>(1000, 10, clock);
    await expect(cache.get('k', () => Promise.reject(new Error('db down')))).rejects.toThrow('db down');
    expect(await cache.get('k', () => Promise.resolve(1))).toBe(1);
  });

  it('forgets a key on delete (a status change on this instance applies at once)', async () => {
    const cache = new TtlCache<string, string>(60_000, 10, clock);
    await cache.get('u1', () => Promise.resolve('ACTIVE'));
    cache.delete('u1');
    expect(await cache.get('u1', () => Promise.resolve('SUSPENDED'))).toBe('SUSPENDED');
  });

  it('caches nothing with a TTL of 0', async () => {
    const cache = new TtlCache<string, number>(0, 10, clock);
    const load = jest.fn().mockResolvedValue(1);
    await cache.get('k', load);
    await cache.get('k', load);
    expect(load).toHaveBeenCalledTimes(2);
    expect(cache.size).toBe(0);
  });

  it('stays within its size bound by dropping the oldest entry', async () => {
    const cache = new TtlCache<number, number>(60_000, 3, clock);
    for (let i = 0; i < 5; i++) await cache.get(i, () => Promise.resolve(i));
    expect(cache.size).toBe(3);
    const load = jest.fn().mockResolvedValue(-1);
    expect(await cache.get(0, load)).toBe(-1); // evicted, loaded again
    expect(await cache.get(4, load)).toBe(4); // still cached
    expect(load).toHaveBeenCalledTimes(1);
  });
});
