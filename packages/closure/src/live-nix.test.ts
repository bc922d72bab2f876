import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempDir } from '@strata/test-utils';
import { describe, expect, it } from 'vitest';
import { batchArguments } from './_batch.js';
import { collectClosure } from './discover.js';
import { type ExecFunction, queryNixStore, queryPathInfo } from './live-nix.js';

const S = '/nix/store';
// 30 000 paths of a realistic length: about 2.5 MB of arguments, past Linux's 2 MiB ARG_MAX.
const paths = Array.from({ length: 30_000 }, (_, i) => `${S}/${String(i).padStart(32, '0')}-package-with-a-long-name-${i}`);
const HASH = 'sha256:0rklpmx7bs5i03dlxxgl49r3zi8lk6a825b0n3fdf2ds66rigq47';

/** An exec that answers like nix-store for the closure `paths`, recording every command line it gets. */
function fakeNixStore(calls: string[][]): ExecFunction {
  return async (program, args) => {
    calls.push([program, ...args]);
    if (args.includes('--requisites')) return `${paths.join('\n')}\n`;
    const dumped = args.slice(args.indexOf('--dump-db') + 1);
    return dumped.map((p) => `${p}\n${HASH}\n100\n\n0\n`).join('');
  };
}

const argvBytes = (argv: string[]) => argv.reduce((sum, a) => sum + Buffer.byteLength(a) + 1 + 8, 0);

describe('queryNixStore', () => {
  it('splits --dump-db over command lines that stay under maxArgBytes, losing no path', async () => {
    const calls: string[][] = [];
    const records = await queryNixStore([paths[0]!], { exec: fakeNixStore(calls) });
    expect(records.map((r) => r.path)).toEqual(paths);
    const dumps = calls.filter((c) => c.includes('--dump-db'));
    expect(dumps.length).toBeGreaterThan(1);
    for (const call of dumps) expect(argvBytes(call)).toBeLessThanOrEqual(256 * 1024);
    expect(dumps.flatMap((c) => c.slice(2))).toEqual(paths);
  });

  it('takes a smaller bound, and splits many roots of --requisites too', async () => {
    const calls: string[][] = [];
    await queryNixStore(paths.slice(0, 2000), { exec: fakeNixStore(calls), maxArgBytes: 64 * 1024 });
    const queries = calls.filter((c) => c.includes('--requisites'));
    expect(queries.length).toBeGreaterThan(1);
    for (const call of calls) expect(argvBytes(call)).toBeLessThanOrEqual(64 * 1024);
    expect(queries.flatMap((c) => c.slice(3))).toEqual(paths.slice(0, 2000));
  });
});

describe('collectClosure with source nix-store', () => {
  it('passes maxArgBytes on to the nix-store commands', async () => {
    const dir = await makeTempDir();
    try {
      await mkdir(join(dir.path, paths[0]!), { recursive: true });
      const calls: string[][] = [];
      const closure = await collectClosure([paths[0]!], { source: 'nix-store', storeRoot: dir.path, exec: fakeNixStore(calls), maxArgBytes: 32 * 1024 });
      expect(closure.map((r) => r.path)).toEqual([paths[0]]); // the fake paths refer to nothing
      expect(calls.filter((c) => c.includes('--dump-db')).length).toBeGreaterThan(50);
      for (const call of calls) expect(argvBytes(call)).toBeLessThanOrEqual(32 * 1024);
    } finally {
      await dir.remove();
    }
  });
});

describe('queryPathInfo', () => {
  it('asks for .drv roots with --derivation (the file, not its outputs) and for other roots without', async () => {
    const calls: string[][] = [];
    const drv = `${S}/${'1'.repeat(32)}-x.drv`;
    const out = `${S}/${'2'.repeat(32)}-x`;
    await queryPathInfo([out, drv], {
      exec: async (program, args) => {
        calls.push([program, ...args]);
        const root = args[args.length - 1]!;
        return JSON.stringify([{ path: root, narHash: HASH, narSize: 1, references: [] }]);
      },
    });
    expect(calls.map((c) => [c.includes('--derivation'), c[c.length - 1]])).toEqual([
      [false, out],
      [true, drv],
    ]);
  });
});

describe('batchArguments', () => {
  it('keeps order, fills batches and gives an oversized item a batch of its own', () => {
    // 'p' costs 1 + NUL + pointer = 10 bytes, each 4-letter item 13: two items fit in 40, three do not.
    expect(batchArguments(['aaaa', 'bbbb', 'cccc'], ['p'], 40)).toEqual([['aaaa', 'bbbb'], ['cccc']]);
    expect(batchArguments(['x'.repeat(100), 'y'], [], 50)).toEqual([['x'.repeat(100)], ['y']]);
    expect(batchArguments([], ['p'], 10)).toEqual([]);
  });
});
