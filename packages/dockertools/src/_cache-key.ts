// What identifies a layer's bytes without reading them, for strata's layer cache (see @strata/cache).
import { createHash, type Hash } from 'node:crypto';
import { lstatSync } from 'node:fs';
import type { StorePath } from '@strata/closure';
import { LAYER_FORMAT_VERSION, type LayerPlan, plannedEntries } from '@strata/layer';

function headerFields(hash: Hash, plan: LayerPlan): void {
  // Every header field, in order: a change of mode, owner, mtime, size, link target or entry set
  // changes the key even where a NAR hash would not (a NAR records only the executable bit). One
  // entry at a time: plan.entries would build and keep an object per file for the plan's lifetime.
  for (const e of plannedEntries(plan)) {
    hash.update(JSON.stringify([e.name, e.type, e.mode, e.uid, e.gid, e.uname, e.gname, e.mtime, e.size, e.linkname ?? '', e.devmajor ?? 0, e.devminor ?? 0]));
    hash.update('\n');
  }
}

/**
 * The cache key of a store layer: strata's layer format, every tar header of the plan, and the
 * contents of its store paths, given by their NAR hashes (Nix's, a graph file's, or the scan's).
 * A path without a NAR hash (a hand-written graph file) is identified by the metadata of its files
 * instead (device, inode, size, mtime and ctime, which any write changes), so editing a file in
 * place changes the key.
 */
export function storeLayerKey(plan: LayerPlan, closure: ReadonlyMap<string, StorePath>): string {
  const hash = createHash('sha256');
  hash.update(`strata-store-layer-${LAYER_FORMAT_VERSION}\n`);
  headerFields(hash, plan);
  const unhashed = new Set<string>();
  for (const path of plan.paths) {
    const narHash = closure.get(path)?.narHash;
    if (narHash) hash.update(`${path} ${narHash}\n`);
    else unhashed.add(path);
  }
  if (unhashed.size > 0) {
    for (const e of plannedEntries(plan)) {
      if (e.source === undefined) continue;
      const st = lstatSync(e.source, { bigint: true });
      hash.update(`${e.name} ${st.dev} ${st.ino} ${st.size} ${st.mtimeNs} ${st.ctimeNs}\n`);
    }
  }
  return `store-${LAYER_FORMAT_VERSION}:sha256:${hash.digest('hex')}`;
}

/** The owner and mtime options every entry of a store layer gets. */
export interface StoreLayerOwner {
  readonly uid: number;
  readonly gid: number;
  readonly uname: string;
  readonly gname: string;
  readonly mtime: number;
}

/**
 * The cache key of a store layer whose paths are registered in a Nix database (live Nix): their NAR
 * hashes with the owner and mtime options give every byte of the tar, since Nix keeps store paths
 * canonical (modes 0444/0555, no other metadata), so no file needs even an lstat. Returns undefined
 * when a path has no NAR hash.
 */
export function registeredLayerKey(paths: readonly string[], closure: ReadonlyMap<string, StorePath>, owner: StoreLayerOwner): string | undefined {
  const hashes = paths.map((p) => closure.get(p)?.narHash);
  if (hashes.some((h) => h === undefined)) return undefined;
  const inputs = JSON.stringify({ paths: paths.map((p, i) => [p, hashes[i]]), owner: [owner.uid, owner.gid, owner.uname, owner.gname, owner.mtime] });
  return `store-nar-${LAYER_FORMAT_VERSION}:sha256:${createHash('sha256').update(inputs).digest('hex')}`;
}

/** The cache key of the customisation layer: its content digest (NAR hash and entry headers, from the reference scan that read it anyway). */
export function customisationLayerKey(contentDigest: string): string {
  return `custom-${LAYER_FORMAT_VERSION}:${contentDigest}`;
}

/**
 * The cache key of buildImage's new layer: its store part as {@link storeLayerKey} gives it (every
 * header, the store paths' NAR hashes), and the NAR hash of its root tree (copyToRoot, the script's
 * changes, extraCommands), whose file contents the headers do not show.
 */
export function buildImageLayerKey(plan: LayerPlan, closure: ReadonlyMap<string, StorePath>, rootNarHash: string): string {
  const inputs = `${storeLayerKey(plan, closure)}\n${rootNarHash}\n`;
  return `buildimage-${LAYER_FORMAT_VERSION}:sha256:${createHash('sha256').update(inputs).digest('hex')}`;
}
