import { type Image, pushImage, pushStoredImage, saveImage, uncompressedImage } from '@strata/image';
import { copyImage, type Platform, type RegistryClientOptions } from '@strata/registry';
import { type Command, Option } from 'commander';
import { CliError } from '../errors.js';
import { formatBytes } from '../format.js';
import { type ImageLocation, parseImageLocation } from '../image-location.js';
import { addLayerOptions, type LayerFlags, layerCache, layerCompression } from '../layer-options.js';
import { openImage, openOci } from '../open-image.js';
import type { CommandContext } from '../context.js';
import { platformOption } from '../platform-option.js';
import { addReportOptions, createReporter, type Reporter, type ReportFlags } from '../report.js';
import { parseBoolean } from '../arguments.js';
import { addRegistryOptions, type RegistryFlags, registryOptions } from '../registry-options.js';

interface CopyFlags extends RegistryFlags, LayerFlags, ReportFlags {
  readonly format?: 'v2s2' | 'oci';
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
async function registryToRegistry(src: Extract<ImageLocation, { kind: 'registry' }>, dst: Extract<ImageLocation, { kind: 'registry' }>, flags: CopyFlags, report: Reporter, registry: RegistryClientOptions) {
  const copied = await copyImage(src.reference, dst.reference, {
    source: registry,
    destination: registry,
    signal: report.context.signal,
    ...(flags.platform ? { platform: flags.platform } : {}),
  });
  const { exists, mounted, uploaded } = copied.blobs;
  report.info(`copied ${copied.manifests} manifest${copied.manifests === 1 ? '' : 's'}: ${uploaded} blobs uploaded, ${mounted} mounted, ${exists} already there`);
  report.result({ reference: copied.reference, digest: copied.digest, mediaType: copied.mediaType, manifests: copied.manifests, blobs: copied.blobs }, `${copied.reference}\n`);
}

/** An OCI layout to a registry: the layout's manifest bytes, so the digest is kept. */
async function layoutToRegistry(src: Extract<ImageLocation, { kind: 'oci' | 'oci-archive' }>, dst: Extract<ImageLocation, { kind: 'registry' }>, flags: CopyFlags, report: Reporter, registry: RegistryClientOptions) {
  const { image, manifest } = await openOci(src, flags.platform);
  const pushed = await pushStoredImage(image, manifest, dst.reference, { ...registry, signal: report.context.signal });
  report.info(`copied ${image.layers.length} layers and the manifest as it is in ${src.path}`);
  report.result({ reference: pushed.reference, digest: pushed.digest }, `${pushed.reference}\n`);
}

/**
 * The name an OCI destination's `:NAME` gives the image: a full `name:tag` as it is, a bare tag on
 * the source's repository (as `skopeo copy … oci:DIR:TAG` names it by that tag).
 */
function ociRepoTags(source: Image, name: string | undefined): readonly string[] {
  if (name === undefined) return source.repoTags;
  if (/[:/]/.test(name)) return [name];
  const first = source.repoTags[0];
  const colon = first?.lastIndexOf(':') ?? -1;
  const repository = first && colon > first.lastIndexOf('/') ? first.slice(0, colon) : (first ?? 'image');
  return [`${repository}:${name}`];
}

/** Writes `source` where `dst` says: a registry, a docker-archive (plain layers, as nixpkgs and skopeo write it) or an OCI layout. */
async function intoSink(source: Image, dst: ImageLocation, flags: CopyFlags, report: Reporter, registry: RegistryClientOptions): Promise<void> {
  const { signal } = report.context;
  if (dst.kind === 'registry') {
    const pushed = await pushImage(source, dst.reference, {
      ...layerCompression(flags, 'gzip'),
      ...(flags.format ? { format: flags.format } : {}),
      ...layerCache(flags, report.context),
      ...registry,
      signal,
    });
    report.info(`copied ${pushed.layers.length} layers, sent ${formatBytes(pushed.uploadedBytes)}`);
    report.result({ reference: pushed.reference, digest: pushed.digest, uploadedBytes: pushed.uploadedBytes }, `${pushed.reference}\n`);
    return;
  }
  if (dst.kind === 'oci' || dst.kind === 'oci-archive') {
    const named = renamed(source, ociRepoTags(source, dst.name));
    const saved = await saveImage(named, dst.path, { format: dst.kind, ...(flags.compression ? layerCompression(flags, 'none') : {}), ...layerCache(flags, report.context), signal });
    report.info(`copied ${source.layers.length} layers to ${dst.path} (${dst.kind}) as manifest ${saved.manifestDigest}`);
    report.result({ file: dst.path, format: dst.kind, imageId: saved.imageId, manifestDigest: saved.manifestDigest }, `${saved.imageId}\n`);
    return;
  }
  if (dst.kind === 'spec') throw new CliError(`${dst.text}: a spec is a source, not a destination`, 'USAGE');
  const plain = await uncompressedImage(dst.name ? renamed(source, [dst.name]) : source, { signal });
  try {
    const saved = await saveImage(plain, dst.path, { compressor: 'none', signal });
    report.info(`copied ${plain.layers.length} layers to ${dst.path} as ${saved.repoTags.join(', ') || 'an untagged image'}`);
    report.result({ file: dst.path, format: 'docker-archive', imageId: saved.imageId, repoTags: saved.repoTags }, `${saved.imageId}\n`);
  } finally {
    await plain.dispose();
  }
}

/** Any other pair: the source as a lazy image, into the destination's sink. */
async function throughImage(src: ImageLocation, dst: ImageLocation, flags: CopyFlags, report: Reporter, registry: RegistryClientOptions) {
  if (dst.kind === 'spec') throw new CliError(`${dst.text}: a spec is a source, not a destination`, 'USAGE');
  const source = await openImage(src, report.context, { registry, ...(flags.platform ? { platform: flags.platform } : {}) });
  try {
    await intoSink(source, dst, flags, report, registry);
  } finally {
    await source.dispose();
  }
}

/** `strata copy SRC DST`: between registries, archives (and OCI layouts), keeping digests. */
export function registerCopy(program: Command, context: CommandContext): void {
  const command = addRegistryOptions(program.command('copy'))
    .description('copy an image between registries, archives and OCI layouts; registry to registry keeps the exact manifests (and digests) and mounts blobs on one registry')
    .argument('<source>', 'REGISTRY/REPO[:TAG|@DIGEST] or docker://…, a docker-archive (docker-archive:PATH[:NAME:TAG]), an OCI layout (oci:DIR[:NAME], oci-archive:FILE[:NAME])')
    .argument('<destination>', 'REGISTRY/REPO[:TAG] or docker://…, a docker-archive to write (docker-archive:PATH[:NAME:TAG], or a bare file name), an OCI layout (oci:DIR[:NAME], oci-archive:FILE[:NAME])')
    .addOption(platformOption('copy only this platform of a multi-platform image (default: every platform between registries, else the host\'s)'))
    .option('--tls-verify <bool>', 'require https with a verified certificate unless the registry is on loopback', parseBoolean, true)
    .addOption(new Option('--format <format>', 'manifest and media types when pushing an archive: v2s2 (Docker schema 2) or oci (default: v2s2, oci with zstd)').choices(['v2s2', 'oci']));
  addLayerOptions(command, 'gzip into a registry from an archive, as stored into an OCI layout; registry to registry and layout to registry copy as they are');
  addReportOptions(command, 'print what was copied as JSON on stdout: {reference, digest, …} into a registry, {file, format, imageId, …} into a file');
  command.action(
    async (sourceText: string, destinationText: string, flags: CopyFlags) => {
      const report = createReporter(flags, context);
      // The real context: a password prompt (--creds USER) must show even with --quiet.
      const registry = registryOptions(flags, context);
      const src = await parseImageLocation(sourceText, { mustExist: true });
      const dst = await parseImageLocation(destinationText, { mustExist: false });
      if (src.kind === 'spec') throw new CliError(`${sourceText}: copy takes an image, not a spec (build it, or push it)`, 'USAGE');
      if (flags.format === 'v2s2' && flags.compression === 'zstd') throw new CliError('--compression zstd: Docker schema 2 (--format v2s2) has no zstd layers; use --format oci', 'USAGE');
      if (src.kind === 'registry' && dst.kind === 'registry') return registryToRegistry(src, dst, flags, report, registry);
      if ((src.kind === 'oci' || src.kind === 'oci-archive') && dst.kind === 'registry') return layoutToRegistry(src, dst, flags, report, registry);
      return throughImage(src, dst, flags, report, registry);
    },
  );
}
