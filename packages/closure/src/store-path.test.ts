import { describe, expect, it } from 'vitest';
import { ClosureError } from './errors.js';
import { hashPart, toStorePath, validateStorePath } from './store-path.js';

const P = '/nix/store/ksxz991hgz9q7mlxjkb3acdxhc65r9ik-hello-app-1.0';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return error instanceof ClosureError ? error.code : 'other';
  }
  return undefined;
}

describe('validateStorePath', () => {
  it('accepts a well-formed store path', () => {
    expect(validateStorePath(P)).toBe(P);
    expect(validateStorePath('/nix/store/ksxz991hgz9q7mlxjkb3acdxhc65r9ik-a+b=c?d_e.f')).toBeTruthy();
  });
  it('rejects paths outside the store, files inside paths, and bad hashes or names', () => {
    expect(codeOf(() => validateStorePath('/usr/bin/env'))).toBe('OUTSIDE_STORE');
    expect(codeOf(() => validateStorePath(`${P}/bin/hello`))).toBe('INVALID_NAME');
    expect(codeOf(() => validateStorePath('/nix/store/esxz991hgz9q7mlxjkb3acdxhc65r9ik-x'))).toBe('INVALID_NAME');
    expect(codeOf(() => validateStorePath('/nix/store/ksxz991hgz9q7mlxjkb3acdxhc65r9i-x'))).toBe('INVALID_NAME');
    expect(codeOf(() => validateStorePath('/nix/store/ksxz991hgz9q7mlxjkb3acdxhc65r9ik-bad name'))).toBe('INVALID_NAME');
    expect(codeOf(() => validateStorePath('/nix/store/ksxz991hgz9q7mlxjkb3acdxhc65r9ik-.hidden'))).toBe('INVALID_NAME');
    expect(() => validateStorePath('/nix/store/ksxz991hgz9q7mlxjkb3acdxhc65r9ik-b@d')).toThrow(/illegal name "b@d"/);
  });
  it('finds the hash part and the enclosing store path', () => {
    expect(hashPart(P)).toBe('ksxz991hgz9q7mlxjkb3acdxhc65r9ik');
    expect(toStorePath(`${P}/bin/hello`)).toBe(P);
    expect(toStorePath('/etc/passwd')).toBeUndefined();
  });
});
