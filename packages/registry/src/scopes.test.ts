import { describe, expect, it } from 'vitest';
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
