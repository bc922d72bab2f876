import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from './exec.js';
import { makeTempDir } from './tmp.js';

/** One image an OCI layout's index.json names, with its parsed manifest and config. */
export interface LayoutImage {
  readonly digest: string;
  readonly annotations: Record<string, string>;
  readonly manifest: { mediaType: string; config: { mediaType: string; digest: string; size: number }; layers: { mediaType: string; digest: string; size: number }[] };
  readonly config: { architecture: string; os: string; config?: Record<string, unknown>; rootfs: { diff_ids: string[] } };
}

async function sha256File(path: string): Promise<{ digest: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(path)) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { digest: `sha256:${hash.digest('hex')}`, size };
}

/**
 * Checks an OCI image layout directory the long way: `oci-layout` is version 1.0.0, every file in
 * `blobs/sha256` (links followed) hashes to its name, and every descriptor reachable from index.json
 * names a blob of that digest and size. Throws naming the first problem; returns the images.
 */
export async function verifyOciLayout(dir: string): Promise<LayoutImage[]> {
  const layout = JSON.parse(await readFile(join(dir, 'oci-layout'), 'utf8')) as { imageLayoutVersion?: string };
  if (layout.imageLayoutVersion !== '1.0.0') throw new Error(`${dir}/oci-layout: imageLayoutVersion ${layout.imageLayoutVersion}`);
  const blobs = join(dir, 'blobs', 'sha256');
  for (const name of await readdir(blobs)) {
    if (!(await stat(join(blobs, name))).isFile()) throw new Error(`blobs/sha256/${name} is not a file`);
    const { digest } = await sha256File(join(blobs, name));
    if (digest !== `sha256:${name}`) throw new Error(`blobs/sha256/${name} hashes to ${digest}`);
  }
  const described = async (d: { digest: string; size: number }, what: string) => {
    const file = join(blobs, d.digest.replace(/^sha256:/, ''));
    const { size } = await stat(file).catch(() => {
      throw new Error(`${what} ${d.digest}: no blob`);
    });
    if (size !== d.size) throw new Error(`${what} ${d.digest}: blob is ${size} bytes, descriptor says ${d.size}`);
    return file;
  };
  const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as { manifests: { digest: string; size: number; annotations?: Record<string, string> }[] };
  const images: LayoutImage[] = [];
  for (const entry of index.manifests) {
    const manifest = JSON.parse(await readFile(await described(entry, 'manifest'), 'utf8')) as LayoutImage['manifest'];
    const config = JSON.parse(await readFile(await described(manifest.config, 'config'), 'utf8')) as LayoutImage['config'];
    for (const layer of manifest.layers) await described(layer, 'layer');
    images.push({ digest: entry.digest, annotations: entry.annotations ?? {}, manifest, config });
  }
  return images;
}

/** Extracts an OCI archive with GNU tar into a temporary directory, verifies the layout there (see {@link verifyOciLayout}), and removes it. */
export async function verifyOciArchive(file: string): Promise<LayoutImage[]> {
  const dir = await makeTempDir('strata-oci-archive-');
  try {
    await run('tar', ['-xf', file, '-C', dir.path]);
    return await verifyOciLayout(dir.path);
  } finally {
    await dir.remove();
  }
}
