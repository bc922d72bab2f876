import { open } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { type ArchiveLayer, type ArchivedImage, type Compression, detectCompression, imageConfigBytes, readDockerArchive } from '@strata/manifest';
import {
  type ImageSource,
  type LayerSource,
  MediaType,
  parseReference,
  type PushProgress,
  pushImage,
  type Reference,
  RegistryError,
} from '@strata/registry';
import { type Command, InvalidArgumentError } from 'commander';
import type { CommandContext } from '../context.js';
import { CliError } from '../errors.js';
import { addRegistryOptions, type RegistryFlags, registryOptions } from '../registry-options.js';
import { formatBytes } from '../format.js';
import { prepareLayeredImage } from '../layered/image.js';
import { parseSpec, readSpecFile } from '../layered/spec.js';

interface PushFlags extends RegistryFlags {
  readonly tlsVerify: boolean;
  readonly jobs: number;
}

/** Parses `--tls-verify false` style values. */
export function parseBoolean(value: string): boolean {
  if (/^(true|1|yes)$/i.test(value)) return true;
  if (/^(false|0|no)$/i.test(value)) return false;
  throw new InvalidArgumentError('expected true or false');
}

function positive(value: string): number {
  if (!/^[1-9]\d*$/.test(value)) throw new InvalidArgumentError('expected a whole number above 0');
  return Number(value);
}

/** A registry reference from the command line; a bad one is a usage error (exit 2). */
export function referenceArgument(value: string): Reference {
  try {
    return parseReference(value);
  } catch (error) {
    if (error instanceof RegistryError) throw new CliError(error.message, 'USAGE');
    throw error;
  }
}

/** Layer and config media types: Docker schema 2, unless a zstd layer forces OCI (zstd is OCI-only). */
function mediaTypes(compressions: readonly Compression[]) {
  const oci = compressions.includes('zstd');
  const layer = (c: Compression) =>
    c === 'zstd' ? MediaType.ociLayerZstd : c === 'gzip' ? (oci ? MediaType.ociLayerGzip : MediaType.dockerLayerGzip) : oci ? MediaType.ociLayer : MediaType.dockerLayer;
  return { layer, config: oci ? MediaType.ociConfig : MediaType.dockerConfig };
}

/** An uncompressed layer's digest is its diffID, so a HEAD can skip it; a compressed one is hashed while it uploads. */
function layerSource(layer: ArchiveLayer, compression: Compression, mediaType: string): LayerSource {
  const known = compression === 'none' && layer.diffId ? { digest: layer.diffId } : {};
  return { mediaType, size: layer.size, ...known, open: () => layer.open() };
}

function archiveSource(image: ArchivedImage): ImageSource {
  const types = mediaTypes(image.layers.map((l) => l.compression));
  return {
    layers: image.layers.map((l) => layerSource(l, l.compression, types.layer(l.compression))),
    config: { bytes: image.configBytes, mediaType: types.config },
  };
}

async function peekCompression(layer: ArchiveLayer): Promise<Compression> {
  const stream: Readable = layer.open();
  for await (const chunk of stream) {
    stream.destroy();
    return detectCompression(chunk as Buffer);
  }
  return 'none';
}

/**
 * Builds the spec's image lazily: layers are packed while they upload, in parallel, never written to
 * disk. `dispose` removes the customisation layer's working directory.
 */
async function specSource(file: string, context: CommandContext): Promise<{ image: ImageSource; dispose(): Promise<void> }> {
  const image = await prepareLayeredImage(parseSpec(await readSpecFile(file), file), {
    signal: context.signal,
    // What the scripts print and contents conflicts, on stderr as build-layered shows them.
    onNotice: (message) => context.stderr.write(`strata: ${message}\n`),
  });
  try {
    // Base-image layers may be stored compressed; strata's own layers are plain tars.
    const compressions = await Promise.all(image.layers.map((l) => (l.diffId ? peekCompression(l) : ('none' as const))));
    const types = mediaTypes(compressions);
    const source: ImageSource = {
      layers: image.layers.map((l, i) => layerSource(l, compressions[i]!, types.layer(compressions[i]!))),
      // A plain tar's digest is its diffID; base layers bring theirs. Same bytes as the archive writer's, so the same image ID.
      config: (uploaded) => ({ bytes: imageConfigBytes(image.template, image.layers.map((l, i) => l.diffId ?? uploaded[i]!.digest)), mediaType: types.config }),
    };
    return { image: source, dispose: () => image.dispose() };
  } catch (error) {
    await image.dispose();
    throw error;
  }
}

async function archiveSourceOf(file: string): Promise<{ image: ImageSource; dispose(): Promise<void> }> {
  const [first] = (await readDockerArchive(file)).images;
  if (!first) throw new CliError(`${file}: the archive holds no image`);
  return { image: archiveSource(first), dispose: async () => {} };
}

async function isSpecFile(file: string): Promise<boolean> {
  const handle = await open(file, 'r').catch((error: Error) => {
    throw new CliError(`${file}: cannot open: ${error.message}`);
  });
  try {
    const head = Buffer.alloc(64);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    return head.subarray(0, bytesRead).toString('utf8').trimStart().startsWith('{');
  } finally {
    await handle.close();
  }
}

function reporter(stderr: NodeJS.WritableStream, layers: number): (e: PushProgress) => void {
  return (e) => {
    if (e.event === 'progress') return;
    const which = e.blob === 'config' ? 'config' : `layer ${e.blob + 1}/${layers}`;
    const what = e.event === 'exists' ? 'already in the registry' : e.event;
    stderr.write(`${which} ${e.digest ?? ''} ${what} (${formatBytes(e.completedBytes)} of ${formatBytes(e.totalBytes)})\n`);
  };
}

/** `strata push SOURCE REF`: an archive or a spec into a registry; prints `REF@sha256:…` on stdout. */
export function registerPush(program: Command, context: CommandContext): void {
  addRegistryOptions(program.command('push'))
    .description('push an image into a registry: a docker-archive, or a spec built straight into the registry (never written to disk)')
    .argument('<source>', 'a docker-archive file (strata, nixpkgs, docker/podman save), or an image spec JSON file')
    .argument('<reference>', 'where to push: registry/repository[:tag]', referenceArgument)
    .option('--tls-verify <bool>', 'require https with a verified certificate unless the registry is on loopback', parseBoolean, true)
    .option('--jobs <n>', 'layers uploaded in parallel', positive, 4)
    .action(async (source: string, reference: Reference, flags: PushFlags) => {
      const file = resolve(source);
      const { image, dispose } = (await isSpecFile(file)) ? await specSource(file, context) : await archiveSourceOf(file);
      const pushed = await pushImage(reference, image, {
        concurrency: flags.jobs,
        ...registryOptions(flags, context),
        signal: context.signal,
        onProgress: reporter(context.stderr, image.layers.length),
      }).finally(dispose);
      const skipped = pushed.layers.filter((l) => l.status !== 'uploaded').length;
      context.stderr.write(`pushed ${pushed.layers.length} layers (${skipped} already there), sent ${formatBytes(pushed.uploadedBytes)}\n`);
      context.stdout.write(`${pushed.reference}\n`);
    });
}
