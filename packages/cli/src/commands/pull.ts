import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type ArchiveLayer, type ImageConfigTemplate, repoTag, writeDockerArchive } from '@strata/manifest';
import { hostPlatform, type PulledImage, pullImage, type Reference, RegistryDigestError, RegistryError } from '@strata/registry';
import { type Command, InvalidArgumentError } from 'commander';
import pLimit from 'p-limit';
import { writeAtomically } from '@strata/image';
import type { CommandContext } from '../context.js';
import { formatBytes } from '../format.js';
import { addRegistryOptions, type RegistryFlags, registryOptions } from '../registry-options.js';
import { parseBoolean, referenceArgument } from './push.js';

interface PullFlags extends RegistryFlags {
  readonly output: string;
  readonly maxSize?: number;
  readonly os: string;
  readonly arch: string;
  readonly variant?: string;
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
 * Refuses to start a pull the disks cannot hold: the archive needs at least the layers' declared
 * sizes next to the output, and compressed layers as much again (at least) in the temp directory.
 */
async function checkSpace(image: PulledImage, output: string, temp: string): Promise<void> {
  const layers = image.layers.reduce((sum, l) => sum + l.descriptor.size, 0);
  const staged = image.layers.filter((l) => !isPlainTar(l.descriptor.mediaType)).reduce((sum, l) => sum + l.descriptor.size, 0);
  const dir = dirname(output);
  const [outFs, tempFs] = await Promise.all([statfs(dir), statfs(temp)]);
  const sameFs = outFs.type === tempFs.type && outFs.blocks === tempFs.blocks && outFs.bfree === tempFs.bfree;
  const checks = sameFs ? [[dir, layers + staged]] : [[dir, layers], [temp, staged]];
  for (const [where, need] of checks as [string, number][]) {
    const free = await freeBytes(where);
    if (need > free) throw new RegistryError('SIZE_LIMIT', `${output}: the image needs at least ${formatBytes(need)} in ${where}, which has ${formatBytes(free)} free`);
  }
}

function sha256Hex(value: string): string {
  const hex = value.replace(/^sha256:/, '');
  if (!/^[a-f0-9]{64}$/.test(hex)) throw new InvalidArgumentError('expected 64 lowercase hex digits (optionally sha256:)');
  return hex;
}

/** Counts and hashes the bytes that pass. */
function hashing(): Transform & { hex(): string } {
  const hash = createHash('sha256');
  const t = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      done(null, chunk);
    },
  });
  return Object.assign(t, { hex: () => hash.digest('hex') });
}

/**
 * Bytes the archive file's write stream may hold: with Node's 16 KiB default each 64 KiB network
 * chunk waits for its own write to finish; a larger buffer lets writes batch (writev) while the
 * next chunks arrive.
 */
const WRITE_BUFFER = 1 << 20;

/** A plain-tar media type: the blob is the layer tar, its size is known and it can stream straight into the archive. */
function isPlainTar(mediaType: string): boolean {
  return !/gzip|zstd/.test(mediaType);
}

/**
 * The archive's layers. Plain-tar layers stream from the registry straight into the archive (their
 * size is in the manifest); compressed ones are first stored uncompressed in `dir` (in parallel) to
 * learn their size. Every byte is verified against the blob digest and the diffID on the way, so a
 * mismatch fails the pull and nothing reaches the output.
 */
async function archiveLayers(image: PulledImage, dir: string, signal: AbortSignal, stderr: NodeJS.WritableStream): Promise<ArchiveLayer[]> {
  // Two at a time: inflating is CPU-bound (two cores are what the project plans for), and each one in flight holds buffers.
  const limit = pLimit(2);
  return Promise.all(
    image.layers.map((layer, i) => {
      const { descriptor } = layer;
      if (isPlainTar(descriptor.mediaType)) return { size: descriptor.size, diffId: layer.diffId!, open: () => layer.openUncompressed() };
      return limit(async (): Promise<ArchiveLayer> => {
        const file = join(dir, `${i}.tar`);
        await onceMore(() => pipeline(layer.openUncompressed(), createWriteStream(file, { highWaterMark: WRITE_BUFFER }), { signal }), corrupt);
        const { size } = await stat(file);
        stderr.write(`layer ${i + 1}/${image.layers.length} ${descriptor.digest} uncompressed to ${formatBytes(size)}\n`);
        return { size, diffId: layer.diffId!, open: () => createReadStream(file, { highWaterMark: 256 * 1024 }) };
      });
    }),
  );
}

/**
 * Writes the archive atomically; with `sha256` the file must hash to it or it never appears. The
 * registry's config bytes go in unchanged (as skopeo's docker-archive keeps them), so the image ID
 * and the history of empty layers survive.
 */
async function writeArchive(output: string, layers: ArchiveLayer[], image: PulledImage, name: string, expected: string | undefined, signal: AbortSignal): Promise<void> {
  const { rootfs: _, ...template } = JSON.parse(image.config.bytes.toString('utf8')) as ImageConfigTemplate & { rootfs?: unknown };
  // Layers streamed from the registry can arrive corrupt; then the whole archive is written once more.
  let layerCorrupt = false;
  const watched = layers.map((layer) => ({
    ...layer,
    open: () => {
      const stream = layer.open();
      stream.once('error', (error) => {
        layerCorrupt ||= corrupt(error);
      });
      return stream;
    },
  }));
  const write = () =>
    writeAtomically(output, async (temp) => {
      layerCorrupt = false;
      const archive = writeDockerArchive(watched, template, { repoTags: [name], signal, configBytes: image.config.bytes });
      if (expected === undefined) return pipeline([archive, createWriteStream(temp, { flags: 'wx', highWaterMark: WRITE_BUFFER })], { signal });
      const hash = hashing();
      await pipeline([archive, hash, createWriteStream(temp, { flags: 'wx', highWaterMark: WRITE_BUFFER })], { signal });
      const actual = hash.hex();
      if (actual !== expected) {
        throw new RegistryDigestError('DIGEST_MISMATCH', `--sha256: ${output} would have sha256 ${actual}, expected ${expected}`, { expected, actual });
      }
    });
  await onceMore(write, () => layerCorrupt);
}

/** `strata pull REF@DIGEST -o FILE`: nixpkgs' pullImage, an uncompressed docker-archive usable as `fromImage`. */
export function registerPull(program: Command, context: CommandContext): void {
  const host = hostPlatform();
  addRegistryOptions(program.command('pull'))
    .description("pull an image into an uncompressed docker-archive (nixpkgs' pullImage)")
    .argument('<reference>', 'registry/repository@sha256:… (a tag works too, but only a digest is reproducible)', referenceArgument)
    .requiredOption('-o, --output <file>', 'the docker-archive to write, atomically (required)')
    .option('--os <os>', 'operating system to pick from a multi-platform image', 'linux')
    .option('--arch <arch>', 'architecture to pick, in GOARCH terms', host.architecture)
    .option('--variant <variant>', 'architecture variant to pick, e.g. v8 (default: any)')
    .option('--final-name <name>', 'image name in the archive (default: the repository)')
    .option('--final-tag <tag>', 'image tag in the archive', 'latest')
    .option('--tls-verify <bool>', 'require https with a verified certificate unless the registry is on loopback', parseBoolean, true)
    .option('--sha256 <hex>', 'expected sha256 of the written file; on a mismatch no file is written (default: not checked)', sha256Hex)
    .option('--max-size <size>', 'refuse an image whose layers add up to more than this, or a layer that inflates past it, e.g. 500M (default: 64G per layer, 256G in all)', size)
    .action(async (reference: Reference, flags: PullFlags) => {
      const { signal } = context;
      const platform = { os: flags.os, architecture: flags.arch, ...(flags.variant ? { variant: flags.variant } : {}) };
      const limits = flags.maxSize !== undefined ? { maxImageSize: flags.maxSize, maxBlobSize: flags.maxSize } : {};
      const image = await pullImage(reference, { platform, ...registryOptions(flags, context), ...limits, signal });
      const name = repoTag(flags.finalName ?? reference.repository, flags.finalTag);
      const output = resolve(flags.output);
      const dir = await mkdtemp(join(tmpdir(), 'strata-pull-'));
      try {
        await checkSpace(image, output, dir);
        const layers = await archiveLayers(image, dir, signal, context.stderr);
        await writeArchive(output, layers, image, name, flags.sha256, signal);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
      context.stderr.write(`pulled ${image.reference.registry}/${image.reference.repository}@${image.digest} as ${name}\n`);
    });
}
