import { type Image, pushImageIndex } from '@strata/image';
import { formatPlatform, type Reference, type RegistryClientOptions } from '@strata/registry';
import { type Command, InvalidArgumentError, Option } from 'commander';
import type { CommandContext } from '../context.js';
import { CliError } from '../errors.js';
import { parseImageLocation } from '../image-location.js';
import { addLayerOptions, type LayerFlags, layerCache, layerCompression } from '../layer-options.js';
import { openImage } from '../open-image.js';
import { addReportOptions, createReporter, type ReportFlags } from '../report.js';
import { parseBoolean, referenceArgument } from '../arguments.js';
import { addRegistryOptions, type RegistryFlags, registryOptions } from '../registry-options.js';

interface PushIndexFlags extends RegistryFlags, LayerFlags, ReportFlags {
  readonly format: 'v2s2' | 'oci';
  readonly jobs: number;
}

function positive(value: string): number {
  if (!/^[1-9]\d*$/.test(value)) throw new InvalidArgumentError('expected a whole number above 0');
  return Number(value);
}

/** Opens every source before anything is pushed: a bad one fails the command with nothing in the registry. */
async function openAll(sources: readonly string[], context: CommandContext, registry: RegistryClientOptions): Promise<Image[]> {
  const images: Image[] = [];
  try {
    for (const text of sources) {
      const location = await parseImageLocation(text, { mustExist: true });
      if (location.kind === 'registry') throw new CliError(`${text}: push-index takes archives and specs (copy an image between registries with copy)`, 'USAGE');
      images.push(await openImage(location, context, { registry }));
    }
    return images;
  } catch (error) {
    for (const image of images) await image.dispose();
    throw error;
  }
}

/** `strata push-index REFERENCE SOURCE...`: a multi-platform image; prints `REF@sha256:…` of the index. */
export function registerPushIndex(program: Command, context: CommandContext): void {
  const command = addRegistryOptions(program.command('push-index'))
    .description('push images for several platforms and an OCI image index naming each (os/architecture/variant from each image\'s config)')
    .argument('<reference>', 'where to push the index: registry/repository[:tag] (the images go to the same repository, by digest)', referenceArgument)
    .argument('<sources...>', 'one image per platform: a docker-archive, an OCI layout (oci:DIR[:NAME], oci-archive:FILE[:NAME]), or a spec (with its own "architecture")')
    .option('--tls-verify <bool>', 'require https with a verified certificate unless the registry is on loopback', parseBoolean, true)
    .option('--jobs <n>', 'layers read, compressed and uploaded in parallel', positive, 4)
    .addOption(new Option('--format <format>', "each image's manifest: oci (as the index is) or v2s2 (Docker schema 2)").choices(['oci', 'v2s2']).default('oci'));
  addLayerOptions(command, 'gzip');
  addReportOptions(command, 'print what was pushed as JSON on stdout: {reference, digest, mediaType, manifests: [{mediaType, digest, size, platform}]}');
  command.action(async (reference: Reference, sources: string[], flags: PushIndexFlags) => {
    if (flags.format === 'v2s2' && flags.compression === 'zstd') throw new CliError('--compression zstd: Docker schema 2 (--format v2s2) has no zstd layers; use --format oci', 'USAGE');
    const compression = layerCompression(flags, 'gzip');
    const report = createReporter(flags, context);
    // The real context: a password prompt (--creds USER) must show even with --quiet.
    const registry = registryOptions(flags, context);
    const images = await openAll(sources, report.context, registry);
    try {
      const pushed = await pushImageIndex(images, reference, {
        ...compression,
        format: flags.format,
        ...layerCache(flags, report.context),
        concurrency: flags.jobs,
        ...registry,
        signal: context.signal,
        onImage: (i, manifest) => report.info(`${formatPlatform(manifest.platform!)} ${sources[i]} pushed as ${manifest.digest}`),
      });
      const { reference: pinned, digest, mediaType, manifests } = pushed;
      report.result({ reference: pinned, digest, mediaType, manifests }, `${pinned}\n`);
    } finally {
      for (const image of images) await image.dispose();
    }
  });
}
