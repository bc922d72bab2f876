import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstat, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { makeTempDir, run } from '@strata/test-utils';
import { describe, expect, it } from 'vitest';
import type { TarEntry } from './tar-entry.js';
import { writeTar } from './tar.js';

const owner = { uid: 0, gid: 0, uname: 'root', gname: 'root', mtime: 1 };
const bytes = (n: number, seed: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff));

/** Every header shape strata writes: plain ustar, PAX for long/non-ASCII names, big ids and long owner names, every type. */
function entries(): TarEntry[] {
  return [
    { ...owner, name: 'dir/', type: 'directory', mode: 0o755, size: 0 },
    { ...owner, name: 'dir/empty', type: 'file', mode: 0o644, size: 0 },
    { ...owner, name: 'dir/buffer', type: 'file', mode: 0o4755, size: 700, body: bytes(700, 1) },
    { ...owner, name: 'dir/iterable', type: 'file', mode: 0, size: 3000, body: async function* () { yield bytes(1000, 2); yield bytes(2000, 3); } },
    { ...owner, name: 'dir/readable', type: 'file', mode: 0o600, size: 512, body: () => Readable.from([bytes(100, 4), bytes(412, 5)]) },
    { ...owner, name: `dir/${'long/'.repeat(30)}name.bin`, type: 'file', mode: 0o644, size: 10, body: bytes(10, 6) },
    { ...owner, name: 'dir/ünïcødé-名前.txt', type: 'file', mode: 0o644, size: 3, body: Buffer.from('hi\n') },
    { ...owner, name: 'dir/link', type: 'symlink', mode: 0o777, size: 0, linkname: '../dir/buffer' },
    { ...owner, name: 'dir/long-link', type: 'symlink', mode: 0o777, size: 0, linkname: `/nix/store/${'x'.repeat(150)}` },
    { ...owner, name: 'dir/ids', type: 'file', mode: 0o644, uid: 3_000_000, gid: 70_000, size: 1, body: Buffer.from('x') },
    { ...owner, name: 'dir/owner', type: 'file', mode: 0o644, uname: 'u'.repeat(40), gname: 'grüppe', size: 0 },
    { ...owner, name: 'dev/null', type: 'character-device', mode: 0o666, size: 0, devmajor: 1, devminor: 3 },
    { ...owner, name: 'dev/sda', type: 'block-device', mode: 0o660, size: 0, devmajor: 8, devminor: 0 },
    { ...owner, name: 'dev/fifo', type: 'fifo', mode: 0o644, size: 0, mtime: 2_000_000_000 },
    { ...owner, name: 'big-mtime', type: 'directory', mode: 0o1777, size: 0, mtime: 315532800 },
  ];
}

describe('writeTar bytes', () => {
  // Pinned so that changes to how archives are written (for speed) provably keep every byte.
  it('writes the same bytes as it always has', async () => {
    const tar = writeTar(entries());
    const out = await buffer(tar);
    expect(out.length).toBe(tar.size);
    const hex = createHash('sha256').update(out).digest('hex');
    expect(await tar.digest).toBe(`sha256:${hex}`);
    expect(hex).toBe('b81accd001066fd9f8c491dbde67c5feb5b8c568a56d497139b5b8990cefb117');
  });
});

describe('writeTar hard links', () => {
  it('writes a hard-link entry (typeflag 1, no body) that GNU tar extracts as a second name of one file', async () => {
    const long = `./${'deep/'.repeat(25)}target`;
    const tar = writeTar([
      { ...owner, name: './bin/', type: 'directory', mode: 0o755, size: 0 },
      { ...owner, name: './bin/tool', type: 'file', mode: 0o555, size: 5, body: Buffer.from('tool\n') },
      { ...owner, name: './nix/', type: 'directory', mode: 0o555, size: 0 },
      { ...owner, name: './nix/tool', type: 'link', mode: 0o555, size: 0, linkname: './bin/tool' },
      { ...owner, name: long, type: 'file', mode: 0o444, size: 2, body: Buffer.from('x\n') },
      { ...owner, name: './nix/long', type: 'link', mode: 0o444, size: 0, linkname: long },
    ]);
    const bytes = await buffer(tar);
    expect(bytes.length).toBe(tar.size);
    const dir = await makeTempDir('strata-tar-link-');
    try {
      await writeFile(join(dir.path, 'a.tar'), bytes);
      const { stdout } = await run('tar', ['-tvf', join(dir.path, 'a.tar')]);
      expect(stdout).toMatch(/^hr-xr-xr-x .* \.\/nix\/tool link to \.\/bin\/tool$/m);
      await mkdir(join(dir.path, 'x'));
      await run('tar', ['-C', join(dir.path, 'x'), '-xf', join(dir.path, 'a.tar')]);
      const [a, b] = await Promise.all([lstat(join(dir.path, 'x/bin/tool')), lstat(join(dir.path, 'x/nix/tool'))]);
      expect(b.ino).toBe(a.ino);
      expect(a.nlink).toBe(2);
      expect(await readFile(join(dir.path, 'x/nix/long'), 'utf8')).toBe('x\n');
    } finally {
      await dir.remove();
    }
  });
});

describe('writeTar header ranges', () => {
  const file = (over: Partial<TarEntry>): TarEntry => ({ ...owner, name: 'f', type: 'file', mode: 0o644, size: 1, body: Buffer.from('x'), ...over });
  const gnuList = async (entries: TarEntry[]) => {
    const tar = writeTar(entries);
    const out = await buffer(tar);
    expect(out.length).toBe(tar.size);
    const listed = spawnSync('tar', ['--full-time', '--numeric-owner', '-tvf', '-'], { input: out });
    return { stdout: listed.stdout.toString(), stderr: listed.stderr.toString() };
  };

  it('writes an mtime past 2038 with a PAX record that GNU tar reads back', async () => {
    for (const [mtime, date] of [
      [2 ** 31, '2038-01-19 03:14:08'],
      [4_102_444_800, '2100-01-01 00:00:00'],
      [8 ** 11 - 1, '2242-03-16 12:56:31'],
    ] as const) {
      const listed = await gnuList([file({ mtime })]);
      expect(listed.stderr, String(mtime)).toBe('');
      expect(listed.stdout).toBe(`-rw-r--r-- 0/0               1 ${date} f\n`);
    }
  });

  it('writes ids up to 2^32-2 with PAX records, and refuses what no header can hold, naming the field', async () => {
    const listed = await gnuList([file({ uid: 4_294_967_294, gid: 3_000_000 })]);
    expect(listed.stdout).toMatch(/^-rw-r--r-- 4294967294\/3000000 /);
    for (const [over, message] of [
      [{ mtime: 1e12 }, 'layer: f: mtime 1000000000000 is out of range (0 to 8589934591, 1970 to 2242-03-16)'],
      [{ mtime: -1 }, 'layer: f: mtime -1 is out of range (0 to 8589934591, 1970 to 2242-03-16)'],
      [{ uid: 2 ** 40 }, 'layer: f: uid 1099511627776 is out of range (0 to 4294967294)'],
      [{ gid: 2 ** 32 - 1 }, 'layer: f: gid 4294967295 is out of range (0 to 4294967294)'],
      [{ uid: 1.5 }, 'layer: f: uid 1.5 is out of range (0 to 4294967294)'],
      [{ type: 'character-device', size: 0, body: undefined, devmajor: 1, devminor: 300_000 }, 'layer: f: devminor 300000 is out of range (0 to 262143)'],
    ] as const) {
      expect(() => writeTar([file(over as Partial<TarEntry>)])).toThrow(expect.objectContaining({ code: 'INVALID_OPTION', message }));
    }
  });
});

describe('writeTar bodies given as streams', () => {
  it('keeps the bytes in order when the reader is slow and a body ends while the sink is full', async () => {
    // Chunks the size of the sink's buffers, so copying one waits for the reader; the source ends
    // (and closes) while the last chunk is still waiting to be copied.
    const chunks = [Buffer.alloc(1 << 20, 1), Buffer.alloc((1 << 20) + 7, 2), Buffer.alloc(3 << 20, 3)];
    const body = Buffer.concat(chunks);
    const entry = (name: string, size: number) => ({ name, type: 'file' as const, mode: 0o644, uid: 0, gid: 0, uname: 'root', gname: 'root', mtime: 1, size });
    const expected = await buffer(writeTar([{ ...entry('a', body.length), body }, { ...entry('b', 5), body: Buffer.from('after') }]));
    for (const fd of [false, true]) {
      const tar = writeTar([{ ...entry('a', body.length), body: () => Readable.from(chunks) }, { ...entry('b', 5), body: Buffer.from('after') }]);
      const got: Buffer[] = [];
      if (fd) {
        // Through a pipe whose reader is slow: the descriptor sink waits for its writes.
        const dir = await makeTempDir('strata-layer-slow-');
        try {
          const fifo = join(dir.path, 'fifo');
          spawnSync('mkfifo', [fifo]);
          const reader = run('bash', ['-c', `while :; do n=$(dd bs=262144 count=1 iflag=fullblock status=none | tee -a '${fifo}.out' | wc -c); [ "$n" -eq 0 ] && break; sleep 0.002; done < '${fifo}'`]);
          const { openSync, closeSync } = await import('node:fs');
          const out = openSync(fifo, 'w');
          try {
            await tar.writeToFd(out);
          } finally {
            // The reader stops at end of file: closing also ends it when the write failed.
            closeSync(out);
          }
          await reader;
          got.push(await readFile(`${fifo}.out`));
        } finally {
          await dir.remove();
        }
      } else {
        for await (const chunk of tar) {
          got.push(chunk as Buffer);
          await new Promise((resolve) => setTimeout(resolve, 2));
        }
      }
      const bytes = Buffer.concat(got);
      expect(bytes.length, fd ? 'descriptor' : 'stream').toBe(expected.length);
      expect(bytes.equals(expected), fd ? 'descriptor' : 'stream').toBe(true);
    }
  });
});

describe('writeTar inside writeTar', () => {
  const entry = (name: string, size: number) => ({ name, type: 'file' as const, mode: 0o644, uid: 0, gid: 0, uname: 'root', gname: 'root', mtime: 1, size });
  const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
  // An inner archive of 3 MiB (hashed on a thread where threads are used) and one of a few bytes,
  // each hashing itself while written in place into an outer archive that hashes itself too.
  const inner = () => [
    writeTar([{ ...entry('big', 3 << 20), body: bytes(3 << 20, 7) }, { ...entry('small', 5), body: Buffer.from('small') }]),
    writeTar([{ ...entry('tiny', 2), body: Buffer.from('hi') }]),
  ];
  const outer = (archives: ReturnType<typeof inner>, hashThread: boolean) =>
    writeTar(
      [
        { ...entry('one.tar', archives[0]!.size), body: () => archives[0]! },
        { ...entry('two.tar', archives[1]!.size), body: () => archives[1]! },
      ],
      { hashThread },
    );

  it('gives every archive its own digest, read as a stream or written to a descriptor, hashed inline or on a thread', async () => {
    const alone = inner();
    const innerBytes = [await buffer(alone[0]!), await buffer(alone[1]!)];
    for (const [how, hashThread] of [['stream', false], ['stream', true], ['descriptor', false], ['descriptor', true]] as const) {
      const archives = inner();
      const tar = outer(archives, hashThread);
      let out: Buffer;
      if (how === 'stream') {
        out = await buffer(tar);
      } else {
        const dir = await makeTempDir('strata-layer-nested-');
        try {
          const { openSync, closeSync } = await import('node:fs');
          const fd = openSync(join(dir.path, 'out.tar'), 'w');
          try {
            await tar.writeToFd(fd);
          } finally {
            closeSync(fd);
          }
          out = await readFile(join(dir.path, 'out.tar'));
        } finally {
          await dir.remove();
        }
      }
      const label = `${how}, hashThread ${hashThread}`;
      expect(out.length, label).toBe(tar.size);
      expect(await tar.digest, label).toBe(sha(out));
      expect(await archives[0]!.digest, label).toBe(sha(innerBytes[0]!));
      expect(await archives[1]!.digest, label).toBe(sha(innerBytes[1]!));
      // The inner archives are there, byte for byte, at their entries' offsets.
      expect(out.subarray(512, 512 + innerBytes[0]!.length).equals(innerBytes[0]!), label).toBe(true);
    }
  });
});
