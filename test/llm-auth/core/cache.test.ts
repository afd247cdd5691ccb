import { LruTtlCache } from '../../../plugins/llm-auth/core/cache';

describe('LruTtlCache', () => {
  it('returns a value until its expiry and drops it from then on', () => {
    const cache = new LruTtlCache<string>(10);
    cache.set('k', 'v', 1000);
    expect(cache.get('k', 999)).toBe('v');
    expect(cache.get('k', 1000)).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('evicts the least recently used entry beyond its size', () => {
    const cache = new LruTtlCache<number>(2);
    cache.set('a', 1, 100);
    cache.set('b', 2, 100);
    expect(cache.get('a', 0)).toBe(1); // a is now the most recent
    cache.set('c', 3, 100);
    expect(cache.size).toBe(2);
    expect(cache.get('b', 0)).toBeUndefined();
    expect(cache.get('a', 0)).toBe(1);
    expect(cache.get('c', 0)).toBe(3);
  });

  it('replaces an entry and its expiry on set', () => {
    const cache = new LruTtlCache<number>(2);
    cache.set('a', 1, 100);
    cache.set('a', 2, 50);
    expect(cache.size).toBe(1);
    expect(cache.get('a', 60)).toBeUndefined();
  });

  it('stores nothing when its size is 0', () => {
    const cache = new LruTtlCache<number>(0);
    cache.set('a', 1, 100);
    expect(cache.get('a', 0)).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('rejects a negative or fractional size', () => {
    expect(() => new LruTtlCache(-1)).toThrow(RangeError);
    expect(() => new LruTtlCache(1.5)).toThrow(RangeError);
  });
});
