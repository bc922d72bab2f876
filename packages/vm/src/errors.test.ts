import { describe, expect, it } from 'vitest';
import { VmBootError, VmDiskFullError, VmError, VmOptionError, VmTimeoutError } from './errors.js';

describe('VmError classes', () => {
  it('match their own class and the base, never a sibling', () => {
    const timeout = new VmTimeoutError('too slow');
    expect(timeout).toBeInstanceOf(VmTimeoutError);
    expect(timeout).toBeInstanceOf(VmError);
    expect(timeout instanceof VmOptionError).toBe(false);
    expect(timeout instanceof VmBootError).toBe(false);
    expect(new VmError('TIMEOUT', 'x') instanceof VmTimeoutError).toBe(false);
    const full = new VmDiskFullError('full', { stdout: Buffer.alloc(0), stderr: Buffer.alloc(0), exitCode: 1 });
    expect(full).toBeInstanceOf(VmError);
    expect(full instanceof VmTimeoutError).toBe(false);
    expect(timeout instanceof VmDiskFullError).toBe(false);
  });
});
