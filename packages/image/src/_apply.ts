// Applying one layer's tar entries to the flattened filesystem, as a container runtime applies a
// layer onto the ones below it: later entries replace earlier ones (a directory over a directory
// merges), `.wh.NAME` and `.wh..wh..opq` hide what lower layers put there, hard links link to an
// entry already in the tree. Names and link targets are resolved by the model (_tree.ts), never by
// the disk.
import type { TarMember } from '@strata/layer';
import type { UnpackDisk } from './_disk.js';
import { childPath, cleanName, MAX_NAME_BYTES, type Tree, type TreeEntry } from './_tree.js';
import type { UnpackedType } from './image-tree.js';
import { ImageError } from './errors.js';

/** One layer being applied. */
export interface LayerContext {
  readonly tree: Tree;
  readonly disk: UnpackDisk;
  /** Index of the layer in `image.layers`. */
  readonly layer: number;
  /** How messages name the layer (`base.tar: layer 2 of 3`). */
  readonly where: string;
  /** The paths this layer's entries name, filled in as they are applied. */
  readonly paths: string[];
  /** File bytes written so far over the whole image, and the bound on them. */
  readonly budget: { bytes: number; readonly maxBytes: number };
  readonly signal?: AbortSignal;
}

const WHITEOUT = '.wh.';
const OPAQUE = '.wh..wh..opq';

const KINDS: Readonly<Record<string, UnpackedType | 'link'>> = {
  file: 'file',
  'contiguous-file': 'file',
  directory: 'directory',
  symlink: 'symlink',
  link: 'link',
  'character-device': 'character-device',
  'block-device': 'block-device',
  fifo: 'fifo',
};

const DEVICES = { 'character-device': 'char', 'block-device': 'block', fifo: 'fifo' } as const;

function entryOf(member: TarMember, type: UnpackedType, layer: number): TreeEntry {
  return {
    type,
    uid: member.uid,
    gid: member.gid,
    uname: member.uname,
    gname: member.gname,
    mode: member.mode & 0o7777,
    mtime: member.mtime,
    size: type === 'file' ? member.size : 0,
    layer,
  };
}

/** Applies one entry of the layer. */
export async function applyMember(ctx: LayerContext, member: TarMember): Promise<void> {
  ctx.signal?.throwIfAborted();
  // A hostile name may be kilobytes long: messages show its start.
  const where = `${ctx.where}, entry ${JSON.stringify(member.name.length > 200 ? `${member.name.slice(0, 200)}...` : member.name)}`;
  const kind = KINDS[member.type];
  if (kind === undefined) throw new ImageError('INVALID_IMAGE', `${where}: unsupported entry type ${member.type}`);
  const parts = cleanName(member.name, where);
  // PAX records may make these up to 4 MiB each; the map keeps them, so bound them as names are.
  for (const [field, value] of [['link target', member.linkname ?? ''], ['owner name', member.uname], ['group name', member.gname]] as const) {
    if (Buffer.byteLength(value) > MAX_NAME_BYTES) throw new ImageError('INVALID_IMAGE', `${where}: the ${field} is longer than ${MAX_NAME_BYTES} bytes`);
  }
  const base = parts.at(-1);
  if (base?.startsWith(WHITEOUT)) {
    applyWhiteout(ctx, parts, where);
    return;
  }
  ctx.paths.push(`/${parts.join('/')}`);
  if (base === undefined) {
    if (kind !== 'directory') throw new ImageError('INVALID_IMAGE', `${where}: the root can only be a directory, not a ${member.type}`);
    ctx.tree.set('/', entryOf(member, 'directory', ctx.layer));
    return;
  }
  const path = childPath(ctx.tree.resolveDir(parts.slice(0, -1), where, ctx.layer)!, base);
  if (kind === 'link') {
    applyHardLink(ctx, member, path, where);
    return;
  }
  const existing = ctx.tree.get(path);
  if (!(kind === 'directory' && existing?.type === 'directory')) {
    if (existing !== undefined) ctx.tree.remove(path);
    await create(ctx, member, kind, path, where);
  }
  ctx.tree.set(path, {
    ...entryOf(member, kind, ctx.layer),
    ...(kind === 'symlink' ? { linkname: member.linkname! } : {}),
    ...(kind in DEVICES ? { device: { type: DEVICES[kind as keyof typeof DEVICES], major: member.devmajor, minor: member.devminor } } : {}),
  });
}

async function create(ctx: LayerContext, member: TarMember, kind: UnpackedType, path: string, where: string): Promise<void> {
  switch (kind) {
    case 'directory':
      ctx.disk.mkdir(path);
      return;
    case 'symlink':
      // A link's target is data: it is written as it is and only ever followed inside the model.
      if (!member.linkname) throw new ImageError('INVALID_IMAGE', `${where}: a symlink with no target`);
      ctx.disk.symlink(path, member.linkname);
      return;
    case 'file': {
      const budget = ctx.budget;
      if (budget.bytes + member.size > budget.maxBytes) {
        throw new ImageError('LIMIT_EXCEEDED', `${where}: the image's files pass maxBytes (${budget.maxBytes} bytes)`);
      }
      budget.bytes += member.size;
      await ctx.disk.writeFile(path, member.mode, member.body, ctx.signal);
      return;
    }
    default:
      ctx.disk.placeholder(path);
  }
}

/** A hard link (typeflag 1): its target is an image path, resolved inside the root like any name, and must already exist. */
function applyHardLink(ctx: LayerContext, member: TarMember, path: string, where: string): void {
  const name = member.linkname ?? '';
  let parts: string[];
  try {
    parts = cleanName(name, where);
  } catch (error) {
    if (error instanceof ImageError && error.code === 'UNSAFE_ENTRY') {
      throw new ImageError('UNSAFE_ENTRY', `${where}: the hard link target ${JSON.stringify(name)} climbs above the root`);
    }
    throw error;
  }
  const dir = parts.length > 0 ? ctx.tree.resolveDir(parts.slice(0, -1), where) : undefined;
  const target = dir === undefined ? undefined : childPath(dir, parts.at(-1)!);
  const entry = target === undefined ? undefined : ctx.tree.get(target);
  if (target === undefined || entry === undefined) throw new ImageError('INVALID_IMAGE', `${where}: the hard link target ${JSON.stringify(name)} is not in the image`);
  if (entry.type === 'directory') throw new ImageError('INVALID_IMAGE', `${where}: a hard link to the directory ${JSON.stringify(name)}`);
  if (target === path) return; // a link to itself changes nothing
  if (ctx.tree.get(path) !== undefined) ctx.tree.remove(path);
  ctx.disk.link(path, target);
  // One inode: the link has its target's owner and mode.
  ctx.tree.set(path, { ...entry, layer: ctx.layer });
}

function applyWhiteout(ctx: LayerContext, parts: readonly string[], where: string): void {
  const base = parts.at(-1)!;
  // Nothing below a directory the tree lacks can be hidden.
  const dir = ctx.tree.resolveDir(parts.slice(0, -1), where);
  if (dir === undefined) return;
  if (base === OPAQUE) {
    ctx.tree.opaque(dir, ctx.layer);
    return;
  }
  // Other `.wh..wh.` names are AUFS bookkeeping (`.wh..wh.plnk`), not whiteouts; runtimes skip them.
  if (base.startsWith(`${WHITEOUT}${WHITEOUT}`)) return;
  const name = base.slice(WHITEOUT.length);
  if (name === '' || name === '.' || name === '..') throw new ImageError('UNSAFE_ENTRY', `${where}: a whiteout of ${JSON.stringify(name)}`);
  ctx.tree.whiteout(childPath(dir, name), ctx.layer);
}
