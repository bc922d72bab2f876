import { link, lstat, mkdir, readdir, readlink, rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';

/** What {@link overlayOnto} did to the lower tree. */
export interface Overlaid {
  /** Image paths of the lower tree that were removed (with everything below them) to make way for the upper tree's. */
  readonly removed: readonly string[];
  /** Image paths the upper tree put in place (directories merged into a lower directory included). */
  readonly placed: readonly string[];
}

/**
 * Lays `upper` over `lower` in place, as overlayfs shows an upper directory over a lower one (and
 * as nixpkgs' runAsRoot sees copyToRoot over the base image): directories present in both merge,
 * anything else in `upper` replaces what `lower` has at that path. Files are hard links to
 * `upper`'s (the VM works on its own copy, so neither tree is written through them).
 */
export async function overlayOnto(upper: string, lower: string): Promise<Overlaid> {
  const result = { removed: [] as string[], placed: [] as string[] };
  await walk(upper, lower, '', result);
  return result;
}

async function walk(upper: string, lower: string, rel: string, result: { removed: string[]; placed: string[] }): Promise<void> {
  for (const name of (await readdir(upper + rel)).sort()) {
    const path = `${rel}/${name}`;
    const [from, existing] = await Promise.all([lstat(upper + path), lstat(lower + path).catch(() => undefined)]);
    result.placed.push(path);
    if (from.isDirectory() && existing?.isDirectory()) {
      await walk(upper, lower, path, result);
      continue;
    }
    if (existing) {
      await rm(lower + path, { recursive: true, force: true });
      result.removed.push(path);
    }
    if (from.isDirectory()) {
      await mkdir(lower + path, { mode: 0o755 });
      await walk(upper, lower, path, result);
    } else if (from.isSymbolicLink()) {
      await symlink(await readlink(upper + path), lower + path);
    } else {
      await link(join(upper, path), join(lower, path));
    }
  }
}
