import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { VmMissingComponentError } from './errors.js';

/**
 * The modules the guest needs: 9p over virtio-pci (the shares), virtio-blk and ext4 (the scratch disk
 * that bounds what a script may write; ext4 checksums need crc32c) and overlay (the root as a
 * read-only lower layer under a writable upper on that disk). Dependencies come from modules.dep.
 */
export const GUEST_MODULES = ['virtio_pci', '9pnet_virtio', '9p', 'virtio_blk', 'crc32c_generic', 'ext4', 'overlay'] as const;

/** A kernel module to insmod in the guest, in dependency order. */
export interface GuestModule {
  /** File name inside the initramfs, always uncompressed (`9p.ko`). */
  readonly name: string;
  /** Path of the module relative to the modules directory, as modules.dep spells it. */
  readonly relative: string;
}

const execFileAsync = promisify(execFile);

/**
 * Orders `wanted` and their dependencies so each module comes after the ones it needs.
 * Modules built into the kernel (modules.builtin) are left out.
 */
export function orderModules(dep: string, builtin: string, wanted: readonly string[]): GuestModule[] {
  const deps = new Map<string, string[]>();
  for (const line of dep.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    deps.set(line.slice(0, colon), line.slice(colon + 1).trim().split(/\s+/).filter(Boolean));
  }
  const byName = new Map([...deps.keys()].map((rel) => [moduleName(rel), rel]));
  const builtins = new Set(builtin.split('\n').filter(Boolean).map(moduleName));
  const ordered: string[] = [];
  const visit = (rel: string) => {
    if (ordered.includes(rel)) return;
    for (const d of deps.get(rel) ?? []) visit(d);
    ordered.push(rel);
  };
  for (const name of wanted) {
    const rel = byName.get(name);
    if (rel) visit(rel);
    else if (!builtins.has(name)) throw new VmMissingComponentError(`vm: kernel module ${name} not found in modules.dep`);
  }
  return ordered.map((relative) => ({ name: `${moduleName(relative)}.ko`, relative }));
}

/** `kernel/fs/9p/9p.ko.xz` → `9p`. Module names treat `-` and `_` alike. */
function moduleName(relative: string): string {
  return basename(relative).replace(/\.ko(\.(gz|xz|zst))?$/, '').replaceAll('-', '_');
}

/** Reads the modules the guest needs from `modulesDir`, decompressing .ko.gz/.ko.xz/.ko.zst. */
export async function readGuestModules(modulesDir: string): Promise<{ module: GuestModule; data: Buffer }[]> {
  const dep = await readFile(join(modulesDir, 'modules.dep'), 'utf8');
  const builtin = await readFile(join(modulesDir, 'modules.builtin'), 'utf8').catch(() => '');
  const modules = orderModules(dep, builtin, GUEST_MODULES);
  return Promise.all(modules.map(async (module) => ({ module, data: await readModule(join(modulesDir, module.relative)) })));
}

async function readModule(path: string): Promise<Buffer> {
  if (path.endsWith('.ko')) return readFile(path);
  if (path.endsWith('.gz')) return gunzipSync(await readFile(path));
  const tool = path.endsWith('.xz') ? 'xz' : path.endsWith('.zst') ? 'zstd' : undefined;
  if (!tool) throw new VmMissingComponentError(`vm: unknown kernel module compression: ${path}`);
  try {
    const { stdout } = await execFileAsync(tool, ['-dc', path], { encoding: 'buffer', maxBuffer: 64 << 20 });
    return stdout;
  } catch (error) {
    throw new VmMissingComponentError(`vm: cannot decompress ${path} with ${tool}; install ${tool === 'xz' ? 'xz-utils' : 'zstd'}`, {
      cause: error,
    });
  }
}
