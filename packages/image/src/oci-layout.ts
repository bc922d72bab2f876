import { randomBytes } from 'node:crypto';
import { lstat, mkdir, open, readdir, readFile, rename, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { MediaType } from '@strata/registry';
import * as z from 'zod';
import { CONTAINERD_NAME, indexEntries, OCI_LAYOUT_FILE, ociIndexBytes, ociLayerType, ociManifestBytes, REF_NAME, sha256 } from './_oci.js';
import { writeBlobFile } from './_blob-file.js';
import { forEachParallel } from './_parallel.js';
import { createLayerBlob, type LayerCacheStore } from './blob.js';
import { ImageError } from './errors.js';
import type { Image } from './image.js';
import type { LayerCompression } from './layer-compression.js';
import type { OciImageWritten } from './oci-archive.js';

/** Options for {@link writeOciLayout}. */
export interface WriteOciLayoutOptions extends LayerCompression {
  /** Records each layer's digests for later pushes. @default none */
  readonly cache?: LayerCacheStore;
  readonly onCacheError?: (error: unknown) => void;
  /** Layers read (and compressed) at once. @default 4 */
  readonly concurrency?: number;
  /** Aborts; what was written is removed and the directory is left as it was. @default none */
  readonly signal?: AbortSignal;
  /** Told when layer `index` (0-based) starts streaming. @default none */
  readonly onLayer?: (index: number) => void;
}

const MAX_INDEX_BYTES = 16 << 20;
const indexSchema = z.looseObject({ schemaVersion: z.literal(2), manifests: z.array(z.looseObject({ annotations: z.record(z.string(), z.string()).optional() })) });

/** What is in `directory` now: nothing (or an empty directory), an OCI layout, or something else. */
async function existing(directory: string): Promise<'none' | 'empty' | 'layout'> {
  const st = await lstat(directory).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
  if (!st) return 'none';
  if (st.isDirectory()) {
    const names = await readdir(directory);
    if (names.length === 0) return 'empty';
    if (names.includes('oci-layout')) return 'layout';
  }
  throw new ImageError('INVALID_OPTION', `${directory}: exists and is not an OCI image layout (no oci-layout file); give a new or empty directory, or a layout to add the image to`);
}

/** The manifests index.json already lists, minus those under a name the new image takes. */
async function keptEntries(directory: string, names: ReadonlySet<string>): Promise<unknown[]> {
  const file = join(directory, 'index.json');
  const layout = await readFile(join(directory, 'oci-layout'), 'utf8').catch(() => '');
  if (!/"imageLayoutVersion"\s*:\s*"1\.0\.0"/.test(layout)) throw new ImageError('INVALID_IMAGE', `${join(directory, 'oci-layout')}: not an OCI image layout version 1.0.0`);
  const handle = await open(file, 'r').catch(() => undefined);
  if (!handle) return [];
  let text: string;
  try {
    const { size } = await handle.stat();
    if (size > MAX_INDEX_BYTES) throw new ImageError('INVALID_IMAGE', `${file}: ${size} bytes is over the ${MAX_INDEX_BYTES} byte limit`);
    text = await handle.readFile('utf8');
  } finally {
    await handle.close();
  }
  let parsed: z.infer<typeof indexSchema>;
  try {
    parsed = indexSchema.parse(JSON.parse(text));
  } catch (error) {
    throw new ImageError('INVALID_IMAGE', `${file}: not an OCI image index: ${error instanceof z.ZodError ? `${error.issues[0]?.path.join('.')}: ${error.issues[0]?.message}` : (error as Error).message}`, { cause: error });
  }
  // An entry under a name the new image takes now points at the new image (as `skopeo copy oci:DIR:TAG` does).
  return parsed.manifests.filter((m) => {
    const name = m.annotations?.[CONTAINERD_NAME] ?? m.annotations?.[REF_NAME];
    return name === undefined || !names.has(name);
  });
}

/** Writes `bytes` to `file` through a temporary name, so a reader never sees half of it. */
async function writeWhole(file: string, bytes: Buffer): Promise<void> {
  const temp = join(dirname(file), `.${basename(file)}.${randomBytes(6).toString('hex')}.partial`);
  try {
    await writeFile(temp, bytes, { flag: 'wx' });
    await rename(temp, file);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

/**
 * The OCI image layout sink (`skopeo copy oci:DIR:TAG`, `umoci unpack --image DIR:TAG`): a
 * directory with `oci-layout`, `index.json` naming the image (its tag as
 * `org.opencontainers.image.ref.name`, its full name as `io.containerd.image.name`) and
 * `blobs/sha256/…`. Layers are read once, several at once, each into a temporary file renamed to
 * its digest when its bytes have passed. A new directory appears complete or not at all (it is
 * built next to its place and renamed); an existing layout gets the image added (blobs first,
 * index.json replaced last, atomically; an entry of the same name now names this image), and on
 * failure loses only what this call added.
 * @example await writeOciLayout(image, 'hello-oci', { compression: 'gzip' }); // skopeo copy oci:hello-oci:1 …
 */
export async function writeOciLayout(image: Image, directory: string, options: WriteOciLayoutOptions = {}): Promise<OciImageWritten> {
  const state = await existing(directory);
  const root = state === 'layout' ? directory : join(dirname(directory), `.${basename(directory)}.${randomBytes(6).toString('hex')}.partial`);
  const added: string[] = [];
  try {
    if (state !== 'layout') await mkdir(root);
    const names = new Set(image.repoTags);
    const kept = state === 'layout' ? await keptEntries(directory, names) : [];
    const blobs = join(root, 'blobs', 'sha256');
    await mkdir(blobs, { recursive: true });
    const put = async (digest: string, write: (temp: string) => Promise<void>) => {
      const final = join(blobs, digest.slice('sha256:'.length));
      const had = state === 'layout' && (await lstat(final).catch(() => undefined)) !== undefined;
      const temp = join(blobs, `.strata-${randomBytes(6).toString('hex')}.partial`);
      added.push(temp);
      await write(temp);
      await rename(temp, final);
      if (!had) added.push(final);
    };
    const written = await writeBlobs(image, blobs, options, added);
    const config = image.config(written.map((w) => w.diffId));
    const configDigest = sha256(config);
    await put(configDigest, (temp) => writeFile(temp, config, { flag: 'wx' }));
    const manifest = ociManifestBytes(
      { mediaType: MediaType.ociConfig, digest: configDigest, size: config.length },
      written.map((w) => ({ mediaType: w.mediaType, digest: w.digest, size: w.size })),
    );
    const descriptor = { mediaType: MediaType.ociManifest, digest: sha256(manifest), size: manifest.length };
    await put(descriptor.digest, (temp) => writeFile(temp, manifest, { flag: 'wx' }));
    if (state !== 'layout') await writeFile(join(root, 'oci-layout'), OCI_LAYOUT_FILE);
    await writeWhole(join(root, 'index.json'), ociIndexBytes([...kept, ...indexEntries(descriptor, image.repoTags, image.platform)]));
    if (state === 'empty') await rmdir(directory);
    if (state !== 'layout') await rename(root, directory);
    return { manifest: descriptor, imageId: configDigest };
  } catch (error) {
    if (state === 'layout') for (const file of added) await rm(file, { force: true });
    else await rm(root, { recursive: true, force: true });
    throw error;
  }
}

/** Every layer's blob, read (several at once, the biggest first) into a temporary file and renamed to its digest. */
async function writeBlobs(image: Image, blobs: string, options: WriteOciLayoutOptions, added: string[]) {
  return forEachParallel(image.layers, options.concurrency ?? 4, options.signal, async (layer, i, signal) => {
    const blob = await createLayerBlob(layer, {
      ...(options.compression ? { compression: options.compression } : {}),
      ...(options.level === undefined ? {} : { level: options.level }),
      ...(options.cache ? { cache: options.cache, lookup: false } : {}),
      ...(options.onCacheError ? { onCacheError: options.onCacheError } : {}),
      name: `layer ${i + 1}`,
    });
    options.onLayer?.(i);
    const temp = join(blobs, `.strata-${randomBytes(6).toString('hex')}.partial`);
    added.push(temp);
    const stream = blob.open({ lend: true });
    await writeBlobFile(stream, temp, signal);
    const { size } = await stat(temp);
    const digest = await stream.digest;
    const final = join(blobs, digest.slice('sha256:'.length));
    const had = (await lstat(final).catch(() => undefined)) !== undefined;
    await rename(temp, final);
    if (!had) added.push(final);
    return { digest, diffId: await stream.diffId, size, mediaType: ociLayerType(blob.compression) };
  }, (layer) => layer.size);
}
