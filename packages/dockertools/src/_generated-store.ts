import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { DEFAULT_STORE_DIR, type StorePath, toStorePath } from '@strata/closure';
import { type LayerPlan, type OwnershipOverride, type ScanLayerOptions, scanLayer, tarSize } from '@strata/layer';

/** A file of a generated store object: where it is in the image, its text, its mode (0o444 or 0o555). */
export interface GeneratedStoreFile {
  readonly path: string;
  readonly content: string;
  readonly mode: number;
}

/**
 * Store objects an image holds that are not in the Nix store (a nix-shell image's rcfile and
 * scripts): their records (path, NAR size, references) for the layer planner, and the directory
 * they were written to, laid out as a chroot store (`root + /nix/store/…`), for the layer scanner.
 */
export interface GeneratedStore {
  readonly root: string;
  readonly paths: readonly StorePath[];
  /** Permission bits of the directories inside the objects (0o555 as in the store), by image path. */
  readonly directoryModes: ReadonlyMap<string, OwnershipOverride>;
  /** Removes the directory. */
  dispose(): Promise<void>;
}

/** The directories strictly between a store path and its file (`/nix/store/x/bin` for `/nix/store/x/bin/y`). */
function directoriesOf(file: string): string[] {
  const storePath = toStorePath(file);
  const out: string[] = [];
  for (let dir = dirname(file); storePath !== undefined && dir.startsWith(storePath); dir = dirname(dir)) out.push(dir);
  return out;
}

/**
 * Writes generated store objects under a fresh temporary directory, each file at its store path
 * with its content and mode, and returns what the layer planner and scanner need. Directories stay
 * writable on disk (so the directory can be removed without root) and are recorded 0o555 through
 * the scanner's overrides, as they are in the store.
 */
export async function writeGeneratedStore(paths: readonly StorePath[], files: readonly GeneratedStoreFile[]): Promise<GeneratedStore> {
  const root = await mkdtemp(join(tmpdir(), 'strata-generated-'));
  const dispose = () => rm(root, { recursive: true, force: true });
  try {
    await mkdir(join(root, DEFAULT_STORE_DIR), { recursive: true });
    const directoryModes = new Map<string, OwnershipOverride>();
    for (const file of files) {
      const disk = join(root, file.path);
      await mkdir(dirname(disk), { recursive: true });
      await writeFile(disk, file.content);
      await chmod(disk, file.mode); // not the umask's idea of it: the mode is part of the NAR
      for (const dir of directoriesOf(file.path)) directoryModes.set(dir, { mode: 0o555 });
    }
    return { root, paths, directoryModes, dispose };
  } catch (error) {
    await dispose();
    throw error;
  }
}

/**
 * Plans one store layer whose paths may include generated store objects: those are read from the
 * generated store's directory, the others from the store (or the chroot store of `options`).
 * Without generated paths in the layer this is exactly {@link scanLayer}.
 */
export async function scanStoreLayer(paths: readonly string[], options: ScanLayerOptions, generated: GeneratedStore | undefined): Promise<LayerPlan> {
  const own = new Set(generated?.paths.map((p) => p.path));
  if (generated === undefined || !paths.some((p) => own.has(p))) return scanLayer(paths, options);
  const fromGenerated: ScanLayerOptions = { ...options, storeRoot: generated.root, overrides: generated.directoryModes };
  // scanLayer writes the store directory's ancestors first, then each path's tree: plan the
  // ancestors once and each path from where its bytes are, in the planner's order.
  const head = await scanLayer([], options);
  const entries = [...head.entries];
  for (const path of new Set(paths)) {
    const one = await scanLayer([path], own.has(path) ? fromGenerated : options);
    entries.push(...one.entries.slice(head.entries.length));
  }
  return { paths: [...new Set(paths)], entries, size: tarSize(entries) };
}
