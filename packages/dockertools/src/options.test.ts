import { describe, expect, it } from 'vitest';
import type { DockerToolsError } from './errors.js';
import { resolveLayeredOptions } from './options.js';

const fails = (options: Record<string, unknown>): DockerToolsError => {
  try {
    resolveLayeredOptions({ name: 'x', ...options }, 'spec');
  } catch (error) {
    return error as DockerToolsError;
  }
  throw new Error(`accepted ${JSON.stringify(options)}`);
};

describe('resolveLayeredOptions ranges', () => {
  it('refuses owners and times no tar header or config can hold, naming the key', () => {
    expect(fails({ uid: 2 ** 40 }).message).toBe('spec.uid: must be a whole number from 0 to 4294967294, got 1099511627776');
    expect(fails({ gid: -1 }).message).toBe('spec.gid: must be a whole number from 0 to 4294967294, got -1');
    expect(fails({ mtime: 1e12 }).message).toBe(
      'spec.mtime: must be from 1970-01-01T00:00:00Z to 2242-03-16T12:56:31Z (0 to 8589934591 seconds), what a tar header holds; got 1000000000000',
    );
    expect(fails({ mtime: '2300-01-01T00:00:00Z' }).message).toMatch(/^spec\.mtime: must be from 1970/);
    expect(fails({ created: 1e12 }).message).toBe('spec.created: the year must be from 0000 to 9999 (RFC 3339), got +033658-09-27T01:46:40.000Z');
    for (const bad of [{ uid: 2 ** 40 }, { mtime: 1e12 }, { created: 1e12 }]) expect(fails(bad)).toMatchObject({ code: 'INVALID_OPTION' });
  });

  it('keeps the largest values a header holds', () => {
    const o = resolveLayeredOptions({ name: 'x', uid: 4_294_967_294, gid: 3_000_000, mtime: '2100-01-01T00:00:00Z', created: '9999-12-31T23:59:59Z' });
    expect([o.uid, o.gid, o.mtime, o.created]).toEqual([4_294_967_294, 3_000_000, 4_102_444_800, '9999-12-31T23:59:59Z']);
  });
});
