import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { VmComponents } from './components.js';
import { type CpioEntry, writeCpio } from './cpio.js';
import { INIT_SCRIPT } from './_init.js';
import { readGuestModules } from './_modules.js';

/** Options for {@link buildInitramfs}. */
export interface BuildInitramfsOptions {
  /** Directory of cached initramfs images. @default $STRATA_CACHE_DIR/vm, else $XDG_CACHE_HOME/strata/vm, else ~/.cache/strata/vm */
  readonly cacheDir?: string;
}

// Bump when the initramfs layout changes, so old cache entries are not reused.
const FORMAT = 'strata-vm-initramfs-2';

/** The cache directory the VM runner uses when none is given. */
export function defaultCacheDir(): string {
  const env = process.env;
  if (env.STRATA_CACHE_DIR) return join(env.STRATA_CACHE_DIR, 'vm');
  return join(env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'strata', 'vm');
}

/**
 * Builds the guest's gzip'd initramfs (static busybox, the virtio/9p modules in load order, /init)
 * and returns its path. It is cached under `cacheDir` by a hash of the inputs' identity (path, size,
 * mtime of busybox and modules, and the init script), so repeated runs skip the work.
 */
export async function buildInitramfs(components: VmComponents, options: BuildInitramfsOptions = {}): Promise<string> {
  const cacheDir = options.cacheDir ?? defaultCacheDir();
  const path = join(cacheDir, `initramfs-${await inputsKey(components)}.cpio.gz`);
  // Runs in this process that want the same image share one build.
  let pending = building.get(path);
  if (!pending) {
    pending = buildCached(components, cacheDir, path).finally(() => building.delete(path));
    building.set(path, pending);
  }
  return pending;
}

const building = new Map<string, Promise<string>>();

async function buildCached(components: VmComponents, cacheDir: string, path: string): Promise<string> {
  if (await stat(path).catch(() => undefined)) return path;
  const bytes = gzipSync(writeCpio(await initramfsEntries(components)), { level: 6 });
  await mkdir(cacheDir, { recursive: true });
  // Write a temp file of our own, then rename: other processes see either no file or the whole one.
  const temp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await writeFile(temp, bytes);
    await rename(temp, path);
  } finally {
    await rm(temp, { force: true });
  }
  return path;
}

/** The entries of the initramfs, before sorting and packing. */
export async function initramfsEntries(components: VmComponents): Promise<CpioEntry[]> {
  const modules = await readGuestModules(components.modules);
  const entries: CpioEntry[] = [
    { path: 'bin', type: 'directory', mode: 0o755 },
    { path: 'lib', type: 'directory', mode: 0o755 },
    { path: 'lib/modules', type: 'directory', mode: 0o755 },
    { path: 'bin/busybox', type: 'file', mode: 0o755, data: await readFile(components.busybox) },
    { path: 'init', type: 'file', mode: 0o755, data: Buffer.from(INIT_SCRIPT) },
    { path: 'modules', type: 'file', mode: 0o644, data: Buffer.from(modules.map((m) => `${m.module.name}\n`).join('')) },
  ];
  for (const { module, data } of modules) entries.push({ path: `lib/modules/${module.name}`, type: 'file', mode: 0o644, data });
  return entries;
}

async function inputsKey(components: VmComponents): Promise<string> {
  const hash = createHash('sha256').update(FORMAT).update(INIT_SCRIPT);
  for (const file of [components.busybox, join(components.modules, 'modules.dep')]) {
    const s = await stat(file);
    hash.update(`${file}\0${s.size}\0${s.mtimeMs}\0`);
  }
  return hash.digest('hex').slice(0, 32);
}
