import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempDir } from '@strata/test-utils';
import { describe, expect, it } from 'vitest';
import { VmDiskFullError } from './errors.js';
import { checkDiskRoom, sameBytes } from './_output.js';

const output = { stdout: Buffer.from('out'), stderr: Buffer.from('No space left on device\n') };

describe('checkDiskRoom', () => {
  it('passes a disk with room, and names diskSize for one out of blocks or of inodes', async () => {
    const ctl = await makeTempDir('strata-vm-ctl-');
    try {
      const check = async (line: string) => {
        await writeFile(join(ctl.path, 'disk'), `${line}\n`);
        return checkDiskRoom(ctl.path, 16, 3, output).then(
          () => undefined,
          (e: unknown) => e as VmDiskFullError,
        );
      };
      expect(await check('256 1024 10')).toBeUndefined();
      const blocks = await check('255 1024 10');
      expect(blocks).toBeInstanceOf(VmDiskFullError);
      expect(blocks?.message).toMatch(/^vm: the script filled the VM's disk \(diskSize 16 MiB, .*\(exit code 3\); raise diskSize$/);
      expect(blocks?.exitCode).toBe(3);
      expect(blocks?.stderr).toBe(output.stderr);
      expect((await check('5000 4096 0'))?.message).toMatch(/^vm: the script used every inode of the VM's disk \(diskSize 16 MiB/);
    } finally {
      await ctl.remove();
    }
  });
});

describe('sameBytes', () => {
  it('compares files of equal size chunk by chunk', async () => {
    const dir = await makeTempDir('strata-vm-cmp-');
    try {
      const big = Buffer.alloc(600 * 1024, 7);
      const other = Buffer.from(big);
      other[other.length - 1] = 8;
      await writeFile(join(dir.path, 'a'), big);
      await writeFile(join(dir.path, 'b'), big);
      await writeFile(join(dir.path, 'c'), other);
      expect(await sameBytes(join(dir.path, 'a'), join(dir.path, 'b'))).toBe(true);
      expect(await sameBytes(join(dir.path, 'a'), join(dir.path, 'c'))).toBe(false);
    } finally {
      await dir.remove();
    }
  });
});
