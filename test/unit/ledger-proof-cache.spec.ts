import { ProofCache } from '../../src/ledger/proof-cache';

describe('ledger proof cache', () => {
  it('keeps the most recently used answers up to its capacity', () => {
    const cache = new ProofCache<number>(2);
    cache.set('a', 1);
    cache.set('b', 2);
    expect(cache.get('a')).toBe(1); // a is now the most recent: b goes first
    cache.set('c', 3);
    expect(cache.get('b')).toBeUndefined();
    expect(cache.get('a')).toBe(1);
    expect(cache.get('c')).toBe(3);
    cache.set('a', 4); // replaced, not duplicated
    cache.set('d', 5);
    expect(cache.get('c')).toBeUndefined();
    expect([cache.get('a'), cache.get('d')]).toEqual([4, 5]);
  });
});
