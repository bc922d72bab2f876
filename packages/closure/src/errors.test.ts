import { describe, expect, it } from 'vitest';
import { ClosureError, DerivationError } from './errors.js';

describe('ClosureError classes', () => {
  it('a DerivationError is a ClosureError naming the file and byte; a plain ClosureError is no DerivationError', () => {
    const e = new DerivationError('MALFORMED', '/nix/store/x.drv', 7, 'expected ","');
    expect(e).toBeInstanceOf(DerivationError);
    expect(e).toBeInstanceOf(ClosureError);
    expect(e.message).toBe('closure: /nix/store/x.drv: byte 7: expected ","');
    expect([e.code, e.file, e.offset]).toEqual(['MALFORMED', '/nix/store/x.drv', 7]);
    expect(new ClosureError('MALFORMED', 'x') instanceof DerivationError).toBe(false);
  });
  it('match across installed copies through the shared brand', () => {
    const foreign = { [Symbol.for('strata.closure.ClosureError')]: true, [Symbol.for('strata.closure.DerivationError')]: true };
    expect(foreign instanceof DerivationError).toBe(true);
    expect(foreign instanceof ClosureError).toBe(true);
  });
});
