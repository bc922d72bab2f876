import { readdir, readlink, stat } from 'node:fs/promises';
import { toLayerError } from './errors.js';
import type { LayerPlan, LayerEntry, Ownership } from './scan.js';
import { tarSize } from './tar.js';

/** Options for {@link scanContentsLayer}. */
export interface ScanContentsLayerOptions extends Partial<Ownership> {
  /** A chroot store to read the contents from (image paths stay `/nix/store/...`). @default '' */
  readonly storeRoot?: string;
  /** mtime of every entry, seconds since the epoch. @default 1 */
  readonly mtime?: number;
}

interface Node {
  readonly kind: 'directory' | 'symlink';
  readonly target?: string;
  readonly children: Map<string, Node>;
}

function byBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

async function link(into: Node, from: string, root: string): Promise<void> {
  const names = await readdir(root + from, { withFileTypes: true }).catch((e: unknown) => Promise.reject(toLayerError(e, root + from)));
  for (const dirent of names) {
    const source = `${from}/${dirent.name}`;
    const existing = into.children.get(dirent.name);
    if (dirent.isDirectory()) {
      // Directories merge; a name another content already took as a link keeps that link (lndir -silent).
      const dir = existing ?? { kind: 'directory' as const, children: new Map<string, Node>() };
      if (dir.kind !== 'directory') continue;
      into.children.set(dirent.name, dir);
      await link(dir, source, root);
    } else if (!existing) {
      const target = dirent.isSymbolicLink() ? await readlink(root + source) : source;
      into.children.set(dirent.name, { kind: 'symlink', target, children: new Map() });
    }
  }
}

function emit(node: Node, path: string, base: Omit<LayerEntry, 'name' | 'type' | 'mode' | 'size'>, out: LayerEntry[]): void {
  for (const name of [...node.children.keys()].sort(byBytes)) {
    const child = node.children.get(name)!;
    const full = `${path}/${name}`;
    if (child.kind === 'directory') {
      out.push({ ...base, name: `${full}/`, type: 'directory', mode: 0o755, size: 0 });
      emit(child, full, base, out);
    } else {
      out.push({ ...base, name: full, type: 'symlink', mode: 0o777, size: 0, linkname: child.target! });
    }
  }
}

/**
 * Plans the layer that makes `contents` visible at `/`, as nixpkgs' symlinkJoin does: directories
 * are real and merged, every file becomes an absolute symlink into its store path, symlinks are
 * copied as they are, and the first content to claim a name keeps it.
 * @example const plan = await scanContentsLayer(['/nix/store/…-hello']); // /bin/hello -> /nix/store/…-hello/bin/hello
 */
export async function scanContentsLayer(contents: readonly string[], options: ScanContentsLayerOptions = {}): Promise<LayerPlan> {
  const root = (options.storeRoot ?? '').replace(/\/+$/, '');
  const tree: Node = { kind: 'directory', children: new Map() };
  for (const path of contents) {
    const st = await stat(root + path).catch((e: unknown) => Promise.reject(toLayerError(e, root + path)));
    if (!st.isDirectory()) throw toLayerError(Object.assign(new Error('contents must be directories'), { code: 'ENOTDIR' }), root + path);
    await link(tree, path, root);
  }
  const base = { uid: options.uid ?? 0, gid: options.gid ?? 0, uname: options.uname ?? 'root', gname: options.gname ?? 'root', mtime: options.mtime ?? 1 };
  const entries: LayerEntry[] = [];
  emit(tree, '', base, entries);
  return { paths: [...contents], entries, size: tarSize(entries) };
}
