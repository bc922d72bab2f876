import { execFile } from 'node:child_process';
import { open, statfs } from 'node:fs/promises';
import { dirname } from 'node:path';
import { promisify } from 'node:util';
import { VmBootError, VmMissingComponentError, VmOptionError } from './errors.js';

const execFileAsync = promisify(execFile);
const MiB = 1024 * 1024;

/**
 * Makes the guest's scratch disk at `path`: a sparse file of `mib` MiB formatted as ext4 (without a
 * journal: the disk lives for one run, and a crash discards it). It holds the overlay's upper layer
 * and /tmp, so the file can never grow past `mib` MiB whatever the script writes. mke2fs writes only
 * metadata (under 1 MiB for 1 GiB) and needs no privileges on a file. Fails before booting when the
 * file system holding `path` has less than `mib` MiB free, rather than letting the guest meet I/O errors.
 */
export async function makeScratchDisk(path: string, mib: number, mke2fs: string): Promise<void> {
  const fs = await statfs(dirname(path));
  const free = fs.bavail * fs.bsize;
  if (free < mib * MiB) {
    throw new VmOptionError(
      `vm: diskSize is ${mib} MiB but ${dirname(path)} has only ${Math.floor(free / MiB)} MiB free; lower diskSize or set tmpDir elsewhere`,
    );
  }
  const file = await open(path, 'wx', 0o600);
  try {
    await file.truncate(mib * MiB);
  } finally {
    await file.close();
  }
  const args = ['-q', '-F', '-t', 'ext4', '-O', '^has_journal', '-m', '0', '-E', 'lazy_itable_init=1,nodiscard,root_owner=0:0', path];
  try {
    await execFileAsync(mke2fs, args);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new VmMissingComponentError(`vm: ${mke2fs} not found; install e2fsprogs (or set STRATA_VM_MKE2FS)`, { cause: error });
    }
    const stderr = String((error as { stderr?: unknown }).stderr ?? '').trim();
    throw new VmBootError(`vm: ${mke2fs} could not format the ${mib} MiB scratch disk: ${stderr || (error as Error).message}`, '');
  }
}
