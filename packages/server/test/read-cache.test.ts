import { describe, expect, it } from 'vitest';
import { ticketPageCache } from '../src/read-cache.ts';

describe('ClockCache (ticket pages)', () => {
  it('serves a page only to a request that saw the clock it was read at', () => {
    const cache = ticketPageCache<number>();
    cache.set(5, 'p1', [1, 2]);
    expect(cache.get(5, 'p1')).toEqual([1, 2]);
    expect(cache.get(6, 'p1')).toBeUndefined();
    expect(cache.get(4, 'p1')).toBeUndefined();
    expect(cache.get(5, 'p2')).toBeUndefined();
  });

  it('drops every page of an earlier clock once a later one is seen, and never lets an earlier one back', () => {
    const cache = ticketPageCache<number>();
    cache.set(5, 'p1', [1]);
    cache.set(6, 'p2', [2]);
    expect(cache.get(5, 'p1')).toBeUndefined();
    expect(cache.size).toEqual({ values: 1, weight: 1 });
    cache.set(5, 'p1', [1]);
    expect(cache.get(5, 'p1')).toBeUndefined();
    expect(cache.get(6, 'p2')).toEqual([2]);
  });

  it('keeps no more rows than its bound, the oldest pages going first, and nothing without a clock', () => {
    const cache = ticketPageCache<number>(4);
    cache.set(1, 'a', [1, 2]);
    cache.set(1, 'b', [3, 4]);
    cache.set(1, 'c', [5]);
    expect(cache.get(1, 'a')).toBeUndefined();
    expect(cache.get(1, 'b')).toEqual([3, 4]);
    expect(cache.size).toEqual({ values: 2, weight: 3 });
    cache.set(1, 'big', [1, 2, 3, 4, 5]);
    expect(cache.get(1, 'big')).toBeUndefined();
    cache.set(Number.NaN, 'd', [6]);
    expect(cache.size).toEqual({ values: 2, weight: 3 });
  });
});
