// Writing below an unpack root. Every path given here is canonical (see _tree.ts): its parents are
// directories this code made, so the kernel resolves no symlink on the way, and the last component
// is created with O_EXCL | O_NOFOLLOW, so even a model that had gone wrong could not write through
// a link. Nothing is chowned and no special mode bit is set: the image's owners and modes live in
// the metadata map, so the tree is the same whoever unpacks it, root or not.
import { closeSync, constants, createWriteStream, linkSync, mkdirSync, openSync, rmSync, symlinkSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { TreeDisk } from './_tree.js';

/** The disk side of an unpack: files, links and placeholders below `root`. */
export interface UnpackDisk extends TreeDisk {
  /** Writes a regular file from `body` (exactly what the layer holds). */
  writeFile(path: string, mode: number, body: Readable, signal?: AbortSignal): Promise<void>;
  /** An empty file standing for a device node or fifo. */
  placeholder(path: string): void;
  symlink(path: string, target: string): void;
  /** A hard link at `path` to the existing `target` (never followed if it is a symlink: link(2)). */
  link(path: string, target: string): void;
}

const CREATE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/**
 * Files are made readable and writable by their owner, directories searchable too, whatever the
 * image says: whoever reads the tree back (a re-pack, the VM) must be able to, and removing it must
 * work. The image's own bits are in the metadata map.
 */
export function diskDirectory(root: string): UnpackDisk {
  const at = (path: string) => root + path;
  return {
    mkdir: (path) => mkdirSync(at(path), { mode: 0o755 }),
    remove: (path) => rmSync(at(path), { recursive: true, force: true }),
    async writeFile(path, mode, body, signal) {
      const fd = openSync(at(path), CREATE, 0o600 | (mode & 0o777));
      await pipeline(body, createWriteStream('', { fd, highWaterMark: 1 << 20 }), signal ? { signal } : {});
    },
    placeholder: (path) => closeSync(openSync(at(path), CREATE, 0o600)),
    symlink: (path, target) => symlinkSync(target, at(path)),
    link: (path, target) => linkSync(at(target), at(path)),
  };
}

/** No disk at all: bodies are drained (and hashed by the layer stream), nothing is written. */
export function noDisk(): UnpackDisk {
  return {
    mkdir: () => {},
    remove: () => {},
    async writeFile(_path, _mode, body) {
      body.resume();
      await new Promise<void>((resolve, reject) => {
        body.once('end', resolve);
        body.once('error', reject);
      });
    },
    placeholder: () => {},
    symlink: () => {},
    link: () => {},
  };
}
