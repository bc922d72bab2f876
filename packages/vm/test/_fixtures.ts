import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

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
