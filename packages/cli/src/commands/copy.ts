import { type Image, pushImage, pushStoredImage, saveImage, uncompressedImage } from '@strata/image';
import { copyImage, type Platform } from '@strata/registry';
import type { Command } from 'commander';
import type { CommandContext } from '../context.js';
import { CliError } from '../errors.js';
import { formatBytes } from '../format.js';
import { type ImageLocation, parseImageLocation } from '../image-location.js';
import { openImage, openOci } from '../open-image.js';
import { platformOption } from '../platform-option.js';
import { parseBoolean } from './push.js';
import { addRegistryOptions, type RegistryFlags, registryOptions } from '../registry-options.js';

interface CopyFlags extends RegistryFlags {
  readonly platform?: Platform;
}

/** The image under other names (an archive destination's `:NAME:TAG`). */
function renamed(image: Image, repoTags: readonly string[]): Image {
  return {
    repoTags,
    platform: image.platform,
    layers: image.layers,
    ...(image.mtime === undefined ? {} : { mtime: image.mtime }),
    config: (diffIds) => image.config(diffIds),
    dispose: () => image.dispose(),
  };
}

/** Registry to registry: the exact manifests (every child of an index), blobs mounted on one registry. */
async function registryToRegistry(src: Extract<ImageLocation, { kind: 'registry' }>, dst: Extract<ImageLocation, { kind: 'registry' }>, flags: CopyFlags, context: CommandContext) {
  const registry = registryOptions(flags, context);
  const copied = await copyImage(src.reference, dst.reference, {
    source: registry,
    destination: registry,
    signal: context.signal,
    ...(flags.platform ? { platform: flags.platform } : {}),
  });
  const { exists, mounted, uploaded } = copied.blobs;
  context.stderr.write(`copied ${copied.manifests} manifest${copied.manifests === 1 ? '' : 's'}: ${uploaded} blobs uploaded, ${mounted} mounted, ${exists} already there\n`);
  context.stdout.write(`${copied.reference}\n`);
}

/** An OCI layout to a registry: the layout's manifest bytes, so the digest is kept. */
async function layoutToRegistry(src: Extract<ImageLocation, { kind: 'oci' | 'oci-archive' }>, dst: Extract<ImageLocation, { kind: 'registry' }>, flags: CopyFlags, context: CommandContext) {
  const { image, manifest } = await openOci(src, flags.platform);
  const pushed = await pushStoredImage(image, manifest, dst.reference, { ...registryOptions(flags, context), signal: context.signal });
  context.stderr.write(`copied ${image.layers.length} layers and the manifest as it is in ${src.path}\n`);
  context.stdout.write(`${pushed.reference}\n`);
}

/** Any other pair: the source as a lazy image, into the destination's sink. */
async function throughImage(src: ImageLocation, dst: ImageLocation, flags: CopyFlags, context: CommandContext) {
  const registry = registryOptions(flags, context);
  if (dst.kind === 'spec') throw new CliError(`${dst.text}: a spec is a source, not a destination`, 'USAGE');
  if (dst.kind === 'oci' || dst.kind === 'oci-archive') throw new CliError(`${dst.text}: writing ${dst.kind} is not supported yet`, 'USAGE');
  const source = await openImage(src, context, { registry, ...(flags.platform ? { platform: flags.platform } : {}) });
  try {
    if (dst.kind === 'registry') {
      const pushed = await pushImage(source, dst.reference, { ...registry, signal: context.signal });
      context.stderr.write(`copied ${pushed.layers.length} layers, sent ${formatBytes(pushed.uploadedBytes)}\n`);
      context.stdout.write(`${pushed.reference}\n`);
      return;
    }
    // A docker-archive holds plain layers (as nixpkgs, docker save and skopeo write them).
    const plain = await uncompressedImage(dst.name ? renamed(source, [dst.name]) : source, { signal: context.signal });
    try {
      const saved = await saveImage(plain, dst.path, { compressor: 'none', signal: context.signal });
      context.stderr.write(`copied ${plain.layers.length} layers to ${dst.path} as ${saved.repoTags.join(', ') || 'an untagged image'}\n`);
      context.stdout.write(`${saved.imageId}\n`);
    } finally {
      await plain.dispose();
    }
  } finally {
    await source.dispose();
  }
}

/** `strata copy SRC DST`: between registries, archives (and OCI layouts), keeping digests. */
export function registerCopy(program: Command, context: CommandContext): void {
  addRegistryOptions(program.command('copy'))
    .description('copy an image between registries and archives; registry to registry keeps the exact manifests (and digests) and mounts blobs on one registry')
    .argument('<source>', 'REGISTRY/REPO[:TAG|@DIGEST] or docker://…, a docker-archive (docker-archive:PATH[:NAME:TAG]), an OCI layout (oci:DIR[:NAME], oci-archive:FILE[:NAME])')
    .argument('<destination>', 'REGISTRY/REPO[:TAG] or docker://…, or a docker-archive file to write (docker-archive:PATH[:NAME:TAG])')
    .addOption(platformOption('copy only this platform of a multi-platform image (default: every platform between registries, else the host\'s)'))
    .option('--tls-verify <bool>', 'require https with a verified certificate unless the registry is on loopback', parseBoolean, true)
    .action(async (sourceText: string, destinationText: string, flags: CopyFlags) => {
      const src = await parseImageLocation(sourceText, { mustExist: true });
      const dst = await parseImageLocation(destinationText, { mustExist: false });
      if (src.kind === 'spec') throw new CliError(`${sourceText}: copy takes an image, not a spec (build it, or push it)`, 'USAGE');
      if (src.kind === 'registry' && dst.kind === 'registry') return registryToRegistry(src, dst, flags, context);
      if ((src.kind === 'oci' || src.kind === 'oci-archive') && dst.kind === 'registry') return layoutToRegistry(src, dst, flags, context);
      return throughImage(src, dst, flags, context);
    });
}
