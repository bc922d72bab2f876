import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat, statfs, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { checkImageName, type ImageConfigTemplate, ManifestError, repoTag, writeDockerArchiveFile } from '@strata/manifest';
import { hostPlatform, type Platform, type PulledImage, pullImage, type Reference, RegistryDigestError, RegistryError } from '@strata/registry';
import { type Command, InvalidArgumentError } from 'commander';
import { chosenPlatform, platformOption } from '../platform-option.js';
import { writeAtomically } from '@strata/image';
import type { CommandContext } from '../context.js';
import { CliError } from '../errors.js';
import { formatBytes } from '../format.js';
import { createProgress } from '../layered/progress.js';
import { checkOutputPath } from '../output.js';
import { addRegistryOptions, type RegistryFlags, registryOptions } from '../registry-options.js';
import { addReportOptions, createReporter, type Reporter, type ReportFlags } from '../report.js';
import { parseBoolean, referenceArgument } from '../arguments.js';

interface PullFlags extends RegistryFlags, ReportFlags {
  readonly output: string;
  readonly maxSize?: number;
  readonly os: string;
  readonly arch: string;
  readonly variant?: string;
  readonly platform?: Platform;
  readonly finalName?: string;
  readonly finalTag: string;
  readonly sha256?: string;
}

/** A size on the command line: bytes, or with a K, M, G or T suffix (powers of 1024). */
function size(value: string): number {
  const match = /^(\d+)([KMGT]i?B?)?$/i.exec(value);
  if (!match) throw new InvalidArgumentError('expected a size such as 500M or 64G');
  return Number(match[1]) * 1024 ** ('BKMGT'.indexOf((match[2] ?? 'B')[0]!.toUpperCase()));
}

/** True for a layer whose bytes did not match its digest or size (worth one more download). */
function corrupt(error: unknown): boolean {
  return error instanceof RegistryDigestError;
}

/** Runs `attempt` again once when a layer arrived corrupt: a proxy or a flaky network may have mangled it. */
async function onceMore<T>(attempt: () => Promise<T>, isCorrupt: (error: unknown) => boolean): Promise<T> {
  try {
    return await attempt();
  } catch (error) {
    if (!isCorrupt(error)) throw error;
    return attempt();
  }
}

/** Free bytes of the file system holding `dir`, as this user may use them. */
async function freeBytes(dir: string): Promise<number> {
  const fs = await statfs(dir);
  return fs.bavail * fs.bsize;
}

/**
 * Refuses to start a pull the disk cannot hold: the archive needs at least the layers' declared
 * sizes next to the output (compressed layers take more once inflated, which is learnt while writing).
 */
async function checkSpace(image: PulledImage, output: string): Promise<void> {
  const need = image.layers.reduce((sum, l) => sum + l.descriptor.size, 0);
  const dir = dirname(output);
  const free = await freeBytes(dir);
  if (need > free) throw new RegistryError('SIZE_LIMIT', `${output}: the image needs at least ${formatBytes(need)} in ${dir}, which has ${formatBytes(free)} free`);
}

function sha256Hex(value: string): string {
  const hex = value.replace(/^sha256:/, '');
  if (!/^[a-f0-9]{64}$/.test(hex)) throw new InvalidArgumentError('expected 64 lowercase hex digits (optionally sha256:)');
  return hex;
}

/**
 * Bytes the archive file's write stream may hold: with Node's 16 KiB default each 64 KiB network
 * chunk waits for its own write to finish; a larger buffer lets writes batch (writev) while the
 * next chunks arrive.
 */
const WRITE_BUFFER = 1 << 20;

/** Layers fetched at once, where their places in the archive are known (see writeDockerArchiveFile). */
const LAYERS_AT_ONCE = 2;

/** sha256 of a file, read back. */
async function fileSha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * Writes the archive atomically; with `sha256` the file must hash to it or it never appears. Each
 * layer streams from the registry, inflated when compressed, straight to its place in the file, so
 * every byte is written once; every byte is verified against the blob digest and the diffID on the
 * way, so a mismatch fails the pull and nothing reaches the output. The registry's config bytes go
 * in unchanged (as skopeo's docker-archive keeps them), so the image ID and the history of empty
 * layers survive.
 */
async function writeArchive(output: string, image: PulledImage, name: string, expected: string | undefined, signal: AbortSignal, report: Reporter): Promise<void> {
  const { rootfs: _, ...template } = JSON.parse(image.config.bytes.toString('utf8')) as ImageConfigTemplate & { rootfs?: unknown };
  // Uncompressed sizes are what is being learnt: the display shows bytes and rate, no total.
  const progress = createProgress(report.context.stderr, undefined, image.layers.length);
  // Layers streamed from the registry can arrive corrupt; then the whole archive is written once more.
  let layerCorrupt = false;
  const layers = image.layers.map((layer, i) => ({
    diffId: layer.diffId!,
    // A blob whose digest is its diffID is the tar itself: its size is known, so the layers after
    // it can be fetched while it is (the registry serves two blobs at once).
    ...(layer.diffId === layer.descriptor.digest ? { size: layer.descriptor.size } : {}),
    open: () => {
      progress.onLayer(i);
      const stream = layer.openUncompressed();
      stream.once('error', (error) => {
        layerCorrupt ||= corrupt(error);
      });
      return stream;
    },
  }));
  const write = () =>
    writeAtomically(output, async (temp) => {
      layerCorrupt = false;
      await writeFile(temp, '', { flag: 'wx' });
      await writeDockerArchiveFile(temp, layers, template, {
        repoTags: [name],
        signal,
        configBytes: image.config.bytes,
        through: progress.counting,
        writeBuffer: WRITE_BUFFER,
        concurrency: LAYERS_AT_ONCE,
        onLayer: (i, size) => report.info(`layer ${i + 1}/${image.layers.length} ${image.layers[i]!.descriptor.digest} written, ${formatBytes(size)} uncompressed`),
      });
      if (expected === undefined) return;
      const actual = await fileSha256(temp);
      if (actual !== expected) {
        throw new RegistryDigestError('DIGEST_MISMATCH', `--sha256: ${output} would have sha256 ${actual}, expected ${expected}`, { expected, actual });
      }
    });
  await onceMore(write, () => layerCorrupt);
  progress.finish();
}

/** The archive's RepoTags entry, checked before anything is fetched; a bad one is a usage error naming its flag. */
function archiveName(name: string, tag: string): string {
  try {
    checkImageName(name, '--final-name');
    return repoTag(name, tag);
  } catch (error) {
    if (error instanceof ManifestError) throw new CliError(error.message.replace(/^tag:/, '--final-tag:'), 'USAGE');
    throw error;
  }
}

/** `strata pull REF@DIGEST -o FILE`: nixpkgs' pullImage, an uncompressed docker-archive usable as `fromImage`. */
export function registerPull(program: Command, context: CommandContext): void {
  const host = hostPlatform();
  addReportOptions(addRegistryOptions(program.command('pull')), 'print what was pulled as JSON on stdout: {file, size, reference, digest, imageId, repoTags}')
    .description("pull an image into an uncompressed docker-archive (nixpkgs' pullImage)")
    .argument('<reference>', 'registry/repository@sha256:… (a tag works too, but only a digest is reproducible)', referenceArgument)
    .requiredOption('-o, --output <file>', 'the docker-archive to write, atomically (required)')
    .option('--os <os>', 'operating system to pick from a multi-platform image', 'linux')
    .option('--arch <arch>', 'architecture to pick, in GOARCH terms', host.architecture)
    .option('--variant <variant>', 'architecture variant to pick, e.g. v8 (default: any)')
    .addOption(platformOption('os/arch[/variant] to pick, instead of --os, --arch and --variant'))
    .option('--final-name <name>', 'image name in the archive (default: the repository)')
    .option('--final-tag <tag>', 'image tag in the archive', 'latest')
    .option('--tls-verify <bool>', 'require https with a verified certificate unless the registry is on loopback', parseBoolean, true)
    .option('--sha256 <hex>', 'expected sha256 of the written file; on a mismatch no file is written (default: not checked)', sha256Hex)
    .option('--max-size <size>', 'refuse an image whose layers add up to more than this, or a layer that inflates past it, e.g. 500M (default: 64G per layer, 256G in all)', size)
    .action(async (reference: Reference, flags: PullFlags, command: Command) => {
      const { signal } = context;
      const report = createReporter(flags, context);
      const platform = chosenPlatform(command, flags);
      const name = archiveName(flags.finalName ?? reference.repository, flags.finalTag);
      await checkOutputPath(flags.output);
      const limits = flags.maxSize !== undefined ? { maxImageSize: flags.maxSize, maxBlobSize: flags.maxSize } : {};
      const image = await pullImage(reference, { platform, ...registryOptions(flags, context), ...limits, signal });
      const output = resolve(flags.output);
      await checkSpace(image, output);
      await writeArchive(output, image, name, flags.sha256, signal, report);
      const pinned = `${image.reference.registry}/${image.reference.repository}@${image.digest}`;
      report.info(`pulled ${pinned} as ${name}`);
      const { size: bytes } = await stat(output);
      report.result({ file: output, size: bytes, reference: pinned, digest: image.digest, imageId: image.config.descriptor.digest, repoTags: [name] });
    });
}
