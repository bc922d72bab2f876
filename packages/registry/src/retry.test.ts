import { describe, expect, it } from 'vitest';
import { backoffDelay, parseRetryAfter } from './_retry.js';

describe('backoffDelay', () => {
  it('grows by the factor from the first delay, with jitter, and stops at the cap', () => {
    const options = { delayMs: 1000, factor: 3, maxDelayMs: 10_000 };
    for (let i = 0; i < 50; i++) {
      const [a, b, c, d] = [1, 2, 3, 4].map((n) => backoffDelay(n, options));
      expect(a).toBeGreaterThanOrEqual(800);
      expect(a).toBeLessThanOrEqual(1200);
      expect(b).toBeGreaterThanOrEqual(2400);
      expect(b).toBeLessThanOrEqual(3600);
      expect(c).toBeGreaterThanOrEqual(7200);
      expect(c).toBeLessThanOrEqual(10_000);
      expect(d).toBeLessThanOrEqual(10_000);
    }
  });

  it('honours Retry-After up to the cap, and caps by default at 10 s', () => {
    expect(backoffDelay(1, {}, 2000)).toBe(2000);
    expect(backoffDelay(1, {}, 3_600_000)).toBe(10_000);
    expect(backoffDelay(9, {})).toBeLessThanOrEqual(10_000);
    expect(backoffDelay(1, { maxDelayMs: 500 }, parseRetryAfter('120'))).toBe(500);
  });
});

describe('parseRetryAfter', () => {
  it('parses Retry-After as seconds or an HTTP date', () => {
    expect(parseRetryAfter('3')).toBe(3000);
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:10 GMT', Date.parse('2026-01-01T00:00:00Z'))).toBe(10_000);
    expect(parseRetryAfter('soon')).toBeUndefined();
  });
});
