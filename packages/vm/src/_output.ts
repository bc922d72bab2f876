import { open, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { RootChange } from './changes.js';
import { VmBootError, VmDiskFullError, type ScriptOutput } from './errors.js';
import { restoreSymlinks, type TreeEntry } from './_tree.js';

const CHUNK = 256 * 1024;

/** True when two files hold the same bytes; the caller has checked that their sizes agree. */
export async function sameBytes(a: string, b: string): Promise<boolean> {
  const [fa, fb] = await Promise.all([open(a), open(b)]);
  try {
    const ba = Buffer.alloc(CHUNK);
    const bb = Buffer.alloc(CHUNK);
    for (;;) {
      const [ra, rb] = await Promise.all([fa.read(ba, 0, CHUNK, null), fb.read(bb, 0, CHUNK, null)]);
      if (ra.bytesRead !== rb.bytesRead) return false;
      if (ra.bytesRead === 0) return true;
      if (!ba.subarray(0, ra.bytesRead).equals(bb.subarray(0, rb.bytesRead))) return false;
    }
  } finally {
    await Promise.all([fa.close(), fb.close()]);
  }
}

/**
 * Turns the copied-out upper layer into the layer's content: every added or modified path and the
 * directories holding them stay; whiteout placeholders, paths copied up but unchanged, and
 * directories left empty by that go. Symlinks become real symlinks again.
 */
export async function keepOnlyChanges(out: string, upper: ReadonlyMap<string, TreeEntry>, changes: readonly RootChange[]): Promise<void> {
  const kept = new Set(changes.filter((c) => c.change !== 'deleted').map((c) => c.path));
  const needed = new Set<string>(['/']);
  for (const path of kept) {
    for (let p = path; p !== '' && !needed.has(p); p = p.slice(0, p.lastIndexOf('/'))) needed.add(p);
  }
  // Children sort after their parent, so reverse order removes them first.
  for (const path of [...upper.keys()].sort().reverse()) {
    if (!needed.has(path)) await rm(join(out, path), { recursive: true, force: true });
  }
  await restoreSymlinks(out, new Map([...upper].filter(([path]) => kept.has(path))));
}

/** The script's stdout and stderr as far as the guest wrote them (empty when it never started). */
export async function readScriptOutput(ctl: string): Promise<ScriptOutput> {
  const read = (name: string) => readFile(join(ctl, name)).catch(() => Buffer.alloc(0));
  const [stdout, stderr] = await Promise.all([read('stdout'), read('stderr')]);
  return { stdout, stderr };
}

/** The script's exit status, once the guest says it finished; a guest that stopped early throws {@link VmBootError}. */
export async function readStatus(ctl: string, console: string): Promise<number> {
  const error = await readFile(join(ctl, 'error'), 'utf8').catch(() => undefined);
  if (error !== undefined) throw new VmBootError(`vm: the guest failed: ${error.trim()}`, console);
  const status = await readFile(join(ctl, 'status'), 'utf8').catch(() => undefined);
  const done = await readFile(join(ctl, 'done'), 'utf8').catch(() => undefined);
  if (status === undefined || done === undefined) {
    throw new VmBootError(`vm: the VM stopped before the script finished; console:\n${console.slice(-2000)}`, console);
  }
  return Number.parseInt(status, 10);
}

// A write that fails for lack of room leaves a few blocks free (ext4 keeps some back for metadata).
const FULL_BELOW = 256 * 1024;

/**
 * Throws {@link VmDiskFullError} when the script left the scratch disk (nearly) without free space or
 * without a free inode: some write of the script failed, so its changes are incomplete (even when it
 * ignored the error). Keep FULL_BELOW in step with the guest's /init, which then copies nothing out.
 */
export async function checkDiskRoom(ctl: string, diskSize: number, exitCode: number, output: ScriptOutput): Promise<void> {
  const [avail = 0, blockSize = 0, inodes = 0] = (await readFile(join(ctl, 'disk'), 'utf8')).trim().split(/\s+/).map(Number);
  if (avail * blockSize >= FULL_BELOW && inodes > 0) return;
  const what = inodes > 0 ? 'filled' : 'used every inode of';
  throw new VmDiskFullError(
    `vm: the script ${what} the VM's disk (diskSize ${diskSize} MiB, for its changes to the root and /tmp together); ` +
      `its changes are incomplete and were dropped (exit code ${exitCode}); raise diskSize`,
    { ...output, exitCode },
  );
}

/** The directories the guest found opaque, one file per path under ctl/opaque. */
export async function readOpaque(ctl: string): Promise<Set<string>> {
  const dir = join(ctl, 'opaque');
  const names = await readdir(dir);
  return new Set(await Promise.all(names.map((name) => readFile(join(dir, name), 'utf8'))));
}
