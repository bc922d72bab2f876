import { lstat, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from './exec.js';
import { makeTempDir } from './tmp.js';

/** One file of an unpacked image root, as `lstat` sees it after umoci applied the image's metadata. */
export interface UnpackedFile {
  /** Absolute path inside the image, `/` for the root. */
  readonly path: string;
  readonly type: 'file' | 'directory' | 'symlink' | 'other';
  readonly uid: number;
  readonly gid: number;
  /** Permission bits including setuid/setgid/sticky (no file-type bits). */
  readonly mode: number;
  /** Modification time in whole seconds since the epoch. */
  readonly mtime: number;
  readonly size: number;
  readonly linkTarget?: string;
}

/** An image unpacked to a root directory by the real skopeo and umoci. */
export interface UnpackedImage {
  readonly rootfs: string;
  /** Every entry below the root, sorted by path. */
  readonly files: readonly UnpackedFile[];
  remove(): Promise<void>;
}

async function walk(root: string, rel: string, out: UnpackedFile[]): Promise<void> {
  const full = join(root, rel);
  const st = await lstat(full);
  const type = st.isFile() ? 'file' : st.isDirectory() ? 'directory' : st.isSymbolicLink() ? 'symlink' : 'other';
  const entry: UnpackedFile = {
    path: rel === '' ? '/' : `/${rel}`,
    type,
    uid: st.uid,
    gid: st.gid,
    mode: st.mode & 0o7777,
    mtime: Math.floor(st.mtimeMs / 1000),
    size: st.size,
    ...(type === 'symlink' ? { linkTarget: await readlink(full) } : {}),
  };
  out.push(entry);
  if (type === 'directory') {
    for (const name of (await readdir(full)).sort()) await walk(root, rel === '' ? name : `${rel}/${name}`, out);
  }
}

/**
 * Converts an image archive with `skopeo copy` to an OCI layout and unpacks it with `umoci unpack`,
 * then lists every file with owner, mode and mtime as the image defines them.
 * @param source a skopeo transport reference, e.g. `docker-archive:/tmp/img.tar`
 */
export async function unpackImage(source: string): Promise<UnpackedImage> {
  const dir = await makeTempDir('strata-unpack-');
  try {
    const layout = join(dir.path, 'oci');
    const bundle = join(dir.path, 'bundle');
    await run('skopeo', ['--insecure-policy', 'copy', source, `oci:${layout}:img`]);
    await run('umoci', ['unpack', '--image', `${layout}:img`, bundle]);
    const rootfs = join(bundle, 'rootfs');
    const files: UnpackedFile[] = [];
    await walk(rootfs, '', files);
    return { rootfs, files, remove: () => dir.remove() };
  } catch (error) {
    await dir.remove();
    throw error;
  }
}

/** `skopeo inspect` of a transport reference, parsed. */
export async function skopeoInspect(source: string, extra: readonly string[] = []): Promise<Record<string, unknown>> {
  const { stdout } = await run('skopeo', ['--insecure-policy', 'inspect', ...extra, source]);
  return JSON.parse(stdout) as Record<string, unknown>;
}
