import { lstat, mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempDir } from '@strata/test-utils';

/** True when some live process has `needle` in its command line (a VM still running over our temp dir). */
export async function processMentions(needle: string): Promise<boolean> {
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
    const cmdline = await readFile(join('/proc', pid, 'cmdline'), 'utf8').catch(() => '');
    if (cmdline.includes(needle)) return true;
  }
  return false;
}

/** Resolves when `check` returns true, polling every 200 ms, or rejects after `ms`. */
export async function waitFor(check: () => Promise<boolean>, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`condition not met within ${ms} ms`);
}

/** Every path under `dir`, relative and sorted, with a type letter: the shape of a tree. */
export async function listTree(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .map((e) => `${e.isDirectory() ? 'd' : e.isSymbolicLink() ? 'l' : 'f'} ${join(e.parentPath, e.name).slice(dir.length)}`)
    .sort();
}

/** Runs `body` with a fresh root (filled by `fill`) and an empty tmpDir, both removed afterwards. */
export async function withRoot<T>(fill: (root: string) => Promise<void>, body: (root: string, tmp: string) => Promise<T>): Promise<T> {
  const dir = await makeTempDir('strata-vm-test-');
  try {
    const root = join(dir.path, 'root');
    const tmp = join(dir.path, 'tmp');
    await mkdir(root);
    await mkdir(tmp);
    await fill(root);
    return await body(root, tmp);
  } finally {
    await dir.remove();
  }
}

/** Bytes the files under `dir` occupy on disk (allocated blocks, so sparse files count what they hold). */
export async function diskUsage(dir: string): Promise<number> {
  let total = 0;
  const entries = await readdir(dir, { recursive: true }).catch(() => [] as string[]);
  for (const name of entries) {
    const s = await lstat(join(dir, name)).catch(() => undefined);
    if (s) total += s.blocks * 512;
  }
  return total;
}

/** Samples `sample` every 100 ms until `done` settles; resolves to the largest value seen. */
export async function peakWhile(done: Promise<unknown>, sample: () => Promise<number>): Promise<number> {
  let settled = false;
  done.then(
    () => {
      settled = true;
    },
    () => {
      settled = true;
    },
  );
  let peak = 0;
  while (!settled) {
    peak = Math.max(peak, await sample());
    await new Promise((r) => setTimeout(r, 100));
  }
  return peak;
}
