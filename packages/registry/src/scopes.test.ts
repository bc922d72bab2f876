import { describe, expect, it } from 'vitest';
import { backoffDelay, parseRetryAfter } from './_retry.js';
import { ScopeSet } from './_scopes.js';

describe('ScopeSet', () => {
  it('merges actions per repository and lists push scopes first', () => {
    const s = new ScopeSet();
    s.add(['repository:base:pull', 'repository:app:pull']);
    expect(s.add(['repository:app:push'])).toBe(true);
    expect(s.add(['repository:app:pull'])).toBe(false);
    expect(s.list()).toEqual(['repository:app:pull,push', 'repository:base:pull']);
    expect(s.covers(['repository:app:push'])).toBe(true);
    expect(s.covers(['repository:base:push'])).toBe(false);
  });
});

describe('retry timing', () => {
  it('parses Retry-After as seconds or an HTTP date', () => {
    expect(parseRetryAfter('3')).toBe(3000);
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:10 GMT', Date.parse('2026-01-01T00:00:00Z'))).toBe(10_000);
    expect(parseRetryAfter('soon')).toBeUndefined();
  });

  it('backs off by the factor with 10% jitter, and caps Retry-After', () => {
    const second = backoffDelay(2, { delayMs: 1000, factor: 3 });
    expect(second).toBeGreaterThanOrEqual(2700);
    expect(second).toBeLessThanOrEqual(3300);
    expect(backoffDelay(1, { maxDelayMs: 5000 }, 120_000)).toBe(5000);
  });
});
