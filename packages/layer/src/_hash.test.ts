import { describe, expect, it } from 'vitest';
import { RingHasher } from './_hash.js';

describe('RingHasher', () => {
  it('settles finish() when cancelled while the worker still hashes, so no one waits on a thread that is gone', async () => {
    // 64 MiB keeps the worker busy for tens of milliseconds: cancel lands mid-hash.
    const size = 64 << 20;
    const hasher = new RingHasher(new SharedArrayBuffer(size));
    const id = hasher.begin(0);
    hasher.publish(size);
    const outcomes = Promise.allSettled([hasher.end(id, size), hasher.finish()]);
    hasher.cancel(new Error('interrupted'));
    const rejected = { status: 'rejected', reason: expect.objectContaining({ message: 'interrupted' }) };
    expect(await outcomes).toEqual([rejected, rejected]);
  }, 10_000);
});
