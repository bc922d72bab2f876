import { createWriteStream } from 'node:fs';
import { link, mkdir, rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { TarMember } from '@strata/layer';
import { SbomError } from './errors.js';

// The /nix/store entries of an image's layers, applied in order into a directory of our own, the
// way a runtime applies layers (later entries replace earlier ones, whiteouts remove them) but
// without following a link: every write goes where our own record of the tree says, never through
// a symlink an image planted. Only what Nix could hold is written (files, directories, symlinks).

type Kind = 'dir' | 'file' | 'symlink';

interface Node {
  readonly kind: Kind;
  /** The layer that made it (whiteouts hide what lower layers made). */
  readonly layer: number;
  readonly children?: Map<string, Node>;
}

const STORE_NAME = /^[0-9a-df-np-sv-z]{32}-[A-Za-z0-9+\-._?=]+$/;
const WHITEOUT = '.wh.';
const OPAQUE = '.wh..wh..opq';

/** A member name as path components below `/`, or undefined when it climbs out (`..`). */
export function entryParts(name: string): string[] | undefined {
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  return parts.includes('..') ? undefined : parts;
}

function storeRelative(parts: readonly string[]): string[] | undefined {
  return parts[0] === 'nix' && parts[1] === 'store' && parts.length > 2 ? parts.slice(2) : undefined;
}

/** What a layer's regular files outside the store are, kept until the layer ends: a store entry may be a hard link to one. */
interface LayerSpool {
  readonly dir: string;
  readonly files: Map<string, string>;
  count: number;
}

/** Writes the store part of layers into `<root>/nix/store`, safely; see the file comment. */
export class StoreTree {
  readonly #root: string;
  readonly #store: Node = { kind: 'dir', layer: -1, children: new Map() };
  readonly #maxEntries: number;
  #entries = 0;

  constructor(root: string, maxEntries: number) {
    this.#root = root;
    this.#maxEntries = maxEntries;
  }

  /** The store directory on disk (`<root>/nix/store`). */
  get storeDir(): string {
    return join(this.#root, 'nix', 'store');
  }

  /** The store paths now present, as `/nix/store/<name>`. */
  storePaths(): string[] {
    return [...this.#store.children!.keys()].filter((n) => STORE_NAME.test(n)).map((n) => `/nix/store/${n}`);
  }

  async init(): Promise<void> {
    await mkdir(this.storeDir, { recursive: true });
  }

  /** Applies one layer's members (a tar being read), in order. */
  async applyLayer(members: AsyncIterable<TarMember>, layer: number, where: string): Promise<void> {
    const spool: LayerSpool = { dir: join(this.#root, `spool-${layer}`), files: new Map(), count: 0 };
    await mkdir(spool.dir);
    try {
      for await (const member of members) await this.#apply(member, layer, `${where}: ${member.name}`, spool);
    } finally {
      await rm(spool.dir, { recursive: true, force: true });
    }
  }

  async #apply(member: TarMember, layer: number, where: string, spool: LayerSpool): Promise<void> {
    if (++this.#entries > this.#maxEntries) throw new SbomError('UNSAFE_ENTRY', `${where}: more than ${this.#maxEntries} entries in the image`);
    const parts = entryParts(member.name);
    if (!parts || parts.length === 0) return;
    const rel = storeRelative(parts);
    if (!rel) {
      if (member.type === 'file' || member.type === 'contiguous-file') await this.#spool(member, parts.join('/'), spool);
      else if (member.type === 'link' && member.linkname !== undefined) this.#spoolLink(member.linkname, parts.join('/'), spool);
      return;
    }
    const base = rel[rel.length - 1]!;
    if (base.startsWith(WHITEOUT)) return this.#whiteout(rel.slice(0, -1), base, layer);
    // Only store paths (`<hash>-<name>`) are kept: `.links`, lock files and the like are not packages.
    if (!STORE_NAME.test(rel[0]!)) return;
    const parent = await this.#parent(rel, layer, where);
    const existing = parent.children!.get(base);
    const path = join(this.storeDir, ...rel);
    if (member.type === 'directory') {
      if (existing?.kind === 'dir') return;
      if (existing) await rm(path, { recursive: true, force: true });
      await mkdir(path, { mode: 0o755 });
      parent.children!.set(base, { kind: 'dir', layer, children: new Map() });
      return;
    }
    if (existing) {
      await rm(path, { recursive: true, force: true });
      parent.children!.delete(base);
    }
    if (member.type === 'file' || member.type === 'contiguous-file') {
      // Nix records only whether the owner may execute a file.
      await pipeline(member.body, createWriteStream(path, { flags: 'wx', mode: member.mode & 0o100 ? 0o755 : 0o644 }));
      parent.children!.set(base, { kind: 'file', layer });
    } else if (member.type === 'symlink') {
      await symlink(member.linkname ?? '', path);
      parent.children!.set(base, { kind: 'symlink', layer });
    } else if (member.type === 'link') {
      await link(this.#linkTarget(member.linkname ?? '', spool, where), path);
      parent.children!.set(base, { kind: 'file', layer });
    } else {
      throw new SbomError('UNSAFE_ENTRY', `${where}: a ${member.type} entry in the store; a store path holds only files, directories and symlinks`);
    }
  }

  /** The directory node `rel` goes in, made where the tar left it implicit; a link or file on the way is refused. */
  async #parent(rel: readonly string[], layer: number, where: string): Promise<Node> {
    let node = this.#store;
    for (let i = 0; i < rel.length - 1; i++) {
      const name = rel[i]!;
      let child = node.children!.get(name);
      if (!child) {
        await mkdir(join(this.storeDir, ...rel.slice(0, i + 1)), { mode: 0o755 });
        child = { kind: 'dir', layer, children: new Map() };
        node.children!.set(name, child);
      }
      if (child.kind !== 'dir') {
        throw new SbomError('UNSAFE_ENTRY', `${where}: /nix/store/${rel.slice(0, i + 1).join('/')} is a ${child.kind === 'symlink' ? 'symlink' : 'file'}, not a directory; strata follows no link in an image`);
      }
      node = child;
    }
    return node;
  }

  /** `.wh.<name>` removes what lower layers put at `<name>`; `.wh..wh..opq` empties the directory of them. */
  async #whiteout(dirRel: readonly string[], base: string, layer: number): Promise<void> {
    let dir: Node | undefined = this.#store;
    for (const name of dirRel) {
      dir = dir?.children?.get(name);
      if (dir?.kind !== 'dir') return;
    }
    const victims = base === OPAQUE ? [...dir.children!].filter(([, n]) => n.layer < layer).map(([name]) => name) : [base.slice(WHITEOUT.length)];
    for (const name of victims) {
      if (!dir.children!.has(name)) continue;
      if (dirRel.length === 0 && !STORE_NAME.test(name)) continue;
      await rm(join(this.storeDir, ...dirRel, name), { recursive: true, force: true });
      dir.children!.delete(name);
    }
  }

  async #spool(member: TarMember, path: string, spool: LayerSpool): Promise<void> {
    const file = join(spool.dir, String(spool.count++));
    // A hard link shares the inode, and so the mode: the store entry linking here gets this one.
    await pipeline(member.body, createWriteStream(file, { flags: 'wx', mode: member.mode & 0o100 ? 0o755 : 0o644 }));
    spool.files.set(path, file);
  }

  #spoolLink(linkname: string, path: string, spool: LayerSpool): void {
    const target = entryParts(linkname)?.join('/');
    const file = target === undefined ? undefined : spool.files.get(target);
    if (file) spool.files.set(path, file);
  }

  /** Where a hard link's target is on disk: a store file written before, or a file of this layer outside the store. */
  #linkTarget(linkname: string, spool: LayerSpool, where: string): string {
    const parts = entryParts(linkname);
    const rel = parts && storeRelative(parts);
    if (rel) {
      let node: Node | undefined = this.#store;
      for (const name of rel) node = node?.children?.get(name);
      if (node?.kind === 'file') return join(this.storeDir, ...rel);
    } else if (parts) {
      const file = spool.files.get(parts.join('/'));
      if (file) return file;
    }
    throw new SbomError('UNSAFE_ENTRY', `${where}: a hard link to ${JSON.stringify(linkname)}, which is not a file earlier in the image`);
  }
}
