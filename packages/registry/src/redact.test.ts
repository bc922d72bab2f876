import { describe, expect, it } from 'vitest';
import { Redactor } from './_redact.js';

describe('Redactor', () => {
  it('removes a secret in plain, base64 and URL-encoded form, and short ones only where they stand alone', () => {
    const r = new Redactor();
    r.addCredential({ kind: 'basic', username: 'alice', password: 'se cret/42' });
    r.add('p.1');
    const text = `a se cret/42 b ${Buffer.from('alice:se cret/42').toString('base64')} c ${encodeURIComponent('se cret/42')} http p.1 xp.1`;
    expect(r.scrub(text)).toBe('a *** b *** c *** http *** xp.1');
  });
});
