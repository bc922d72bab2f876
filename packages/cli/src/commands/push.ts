import { open, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import {
  buildImage,
  isNixShellSpec,
  NIX_SHELL_SPEC_PATH_KEYS,
  type LayeredImageOptions,
  parseBuildImageSpec,
  parseLayeredSpec,
  parseNixShellSpec,
  readSpecFile,
  SPEC_PATH_KEYS,
  specBuilder,
  streamLayeredImage,
  streamNixShellImage,
} from '@strata/dockertools';
import { type Image, pushImage, readImage } from '@strata/image';
import { type PushProgress, type Reference, RegistryClient } from '@strata/registry';
import type { SbomFormat } from '@strata/sbom';
import { type Command, InvalidArgumentError, Option } from 'commander';
import type { CommandContext } from '../context.js';
import { parseBoolean, referenceArgument } from '../arguments.js';
import { CliError } from '../errors.js';
import { addRegistryOptions, type RegistryFlags, registryOptions } from '../registry-options.js';
import { formatBytes } from '../format.js';
import { addLayerOptions, closureCache, type LayerFlags, layerCache, layerCompression } from '../layer-options.js';
import { addReportOptions, createReporter, type Reporter, type ReportFlags } from '../report.js';
import { attachSbom, sbomBeforePush, sbomOption } from '../sbom-attach.js';

interface PushFlags extends RegistryFlags, LayerFlags, ReportFlags {
  readonly tlsVerify: boolean;
  readonly jobs: number;
  readonly format?: 'v2s2' | 'oci';
  readonly sbom?: SbomFormat;
}

function positive(value: string): number {
  if (!/^[1-9]\d*$/.test(value)) throw new InvalidArgumentError('expected a whole number above 0');
  return Number(value);
}

/**
 * The image to push, as a lazy value: an archive's (layers streamed from the file), or a spec's,
 * built straight into the registry: layers are packed while they upload, never written to disk. A
 * spec is a nix-shell image's when it names a derivation ("drv"), a buildImage one when its
 * `"builder"` key names buildImage(WithNixDb), else a streamLayeredImage one.
 */
export async function imageOf(file: string, context: CommandContext, options: Pick<LayeredImageOptions, 'closureCache'> = {}): Promise<Image> {
  if (!(await isSpecFile(file))) return readImage(file, { signal: context.signal });
  const run = {
    ...options,
    signal: context.signal,
    // What the scripts print and contents conflicts, on stderr as the build commands show them.
    onNotice: (message: string) => context.stderr.write(`strata: ${message}\n`),
  };
  const raw = await readSpecFile(file, [...SPEC_PATH_KEYS, ...NIX_SHELL_SPEC_PATH_KEYS]);
  // A spec naming a derivation ("drv") is a nix-shell image's, as stream-nix-shell --spec reads it.
  if (isNixShellSpec(raw)) return streamNixShellImage({ ...parseNixShellSpec(raw, file), ...run });
  if (specBuilder(raw, file) === 'image') return buildImage({ ...parseBuildImageSpec(raw, file), ...run });
  return streamLayeredImage({ ...parseLayeredSpec(raw, file), ...run });
}

async function isSpecFile(file: string): Promise<boolean> {
  const cannot = (error: Error) => {
    throw new CliError(`${file}: cannot open: ${error.message}`);
  };
  // A directory, a pipe or a device is neither an archive nor a spec (and opening a pipe would hang).
  if (!(await stat(file).catch(cannot)).isFile()) throw new CliError(`${file}: not a regular file; give a docker-archive or a spec file`);
  const handle = await open(file, 'r').catch(cannot);
  try {
    const head = Buffer.alloc(64);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    return head.subarray(0, bytesRead).toString('utf8').trimStart().startsWith('{');
  } finally {
    await handle.close();
  }
}

function reporter(report: Reporter, layers: number): (e: PushProgress) => void {
  return (e) => {
    if (e.event === 'progress') return;
    const which = e.blob === 'config' ? 'config' : `layer ${e.blob + 1}/${layers}`;
    const what = e.event === 'exists' ? 'already in the registry' : e.event;
    report.info(`${which} ${e.digest ?? ''} ${what} (${formatBytes(e.completedBytes)} of ${formatBytes(e.totalBytes)})`);
  };
}

/** `strata push SOURCE REF`: an archive or a spec into a registry; prints `REF@sha256:…` on stdout. */
export function registerPush(program: Command, context: CommandContext): void {
  const command = addRegistryOptions(program.command('push'))
    .description('push an image into a registry: a docker-archive, or a spec built straight into the registry (never written to disk)')
    .argument('<source>', 'a docker-archive file (strata, nixpkgs, docker/podman save), or an image spec JSON file')
    .argument('<reference>', 'where to push: registry/repository[:tag]', referenceArgument)
    .option('--tls-verify <bool>', 'require https with a verified certificate unless the registry is on loopback', parseBoolean, true)
    .option('--jobs <n>', 'layers read, compressed and uploaded in parallel', positive, 4)
    .addOption(new Option('--format <format>', 'manifest and media types: v2s2 (Docker schema 2) or oci (default: v2s2, oci with zstd)').choices(['v2s2', 'oci']))
    .addOption(sbomOption());
  addLayerOptions(command, 'gzip');
  addReportOptions(command, 'print what was pushed as JSON on stdout: {reference, digest, mediaType, layers: [{digest, size, status}], config, uploadedBytes, sbom?}');
  command.action(async (source: string, reference: Reference, flags: PushFlags) => {
    if (flags.format === 'v2s2' && flags.compression === 'zstd') throw new CliError('--compression zstd: Docker schema 2 (--format v2s2) has no zstd layers; use --format oci', 'USAGE');
    const compression = layerCompression(flags, 'gzip');
    const report = createReporter(flags, context);
    // One set of client options (and so one password prompt) for the image and its SBOM.
    const registry = registryOptions(flags, context);
    // The registry is asked how it authenticates (a connection, TLS, a round trip) while the image is
    // made. A failure here is the push's to report, when it asks again; none is left running if the
    // image cannot be made.
    const client = new RegistryClient(reference.registry, registry);
    const early = new AbortController();
    client.ping({ signal: AbortSignal.any([context.signal, early.signal]) }).catch(() => undefined);
    const built = async () => {
      const image = await imageOf(resolve(source), report.context, closureCache(flags));
      const sbom = await sbomBeforePush(image, flags.sbom, report.context).catch(async (error: unknown) => {
        await image.dispose();
        throw error;
      });
      return { image, sbom };
    };
    const { image, sbom } = await built().catch((error: unknown) => {
      early.abort();
      throw error;
    });
    const pushed = await pushImage(image, reference, {
      ...compression,
      ...(flags.format ? { format: flags.format } : {}),
      ...layerCache(flags, report.context),
      concurrency: flags.jobs,
      ...registry,
      client,
      signal: context.signal,
      onProgress: reporter(report, image.layers.length),
    }).finally(() => image.dispose());
    const skipped = pushed.layers.filter((l) => l.status !== 'uploaded').length;
    report.info(`pushed ${pushed.layers.length} layers (${skipped} already there), sent ${formatBytes(pushed.uploadedBytes)}`);
    const attached = sbom ? await attachSbom(sbom, pushed, reference, registry, report) : undefined;
    const { reference: pinned, digest, mediaType, layers, config, uploadedBytes } = pushed;
    report.result({ reference: pinned, digest, mediaType, layers, config, uploadedBytes, ...(attached ? { sbom: attached } : {}) }, `${pinned}\n`);
  });
}
