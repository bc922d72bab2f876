import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type ArchiveLayer, type ImageConfigTemplate, repoTag, writeDockerArchive } from '@strata/manifest';
import { hostPlatform, type Platform, type PulledImage, pullImage, type Reference, RegistryDigestError } from '@strata/registry';
import { type Command, InvalidArgumentError } from 'commander';
import { chosenPlatform, platformOption } from '../platform-option.js';
import pLimit from 'p-limit';
import { writeAtomically } from '@strata/image';
import type { CommandContext } from '../context.js';
import { formatBytes } from '../format.js';
import { parseBoolean, referenceArgument } from './push.js';

interface PullFlags {
  readonly output: string;
  readonly os: string;
  readonly arch: string;
  readonly variant?: string;
  readonly platform?: Platform;
  readonly finalName?: string;
  readonly finalTag: string;
  readonly tlsVerify: boolean;
  readonly sha256?: string;
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
  const limit = pLimit(4);
  return Promise.all(
    image.layers.map((layer, i) => {
      const { descriptor } = layer;
      if (isPlainTar(descriptor.mediaType)) return { size: descriptor.size, diffId: layer.diffId!, open: () => layer.openUncompressed() };
      return limit(async (): Promise<ArchiveLayer> => {
        const file = join(dir, `${i}.tar`);
        await pipeline(layer.openUncompressed(), createWriteStream(file), { signal });
        const { size } = await stat(file);
        stderr.write(`layer ${i + 1}/${image.layers.length} ${descriptor.digest} uncompressed to ${formatBytes(size)}\n`);
        return { size, diffId: layer.diffId!, open: () => createReadStream(file, { highWaterMark: 1 << 20 }) };
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
  const archive = writeDockerArchive(layers, template, { repoTags: [name], signal, configBytes: image.config.bytes });
  await writeAtomically(output, async (temp) => {
    if (expected === undefined) return pipeline([archive, createWriteStream(temp, { flags: 'wx' })], { signal });
    const hash = hashing();
    await pipeline([archive, hash, createWriteStream(temp, { flags: 'wx' })], { signal });
    const actual = hash.hex();
    if (actual !== expected) {
      throw new RegistryDigestError('DIGEST_MISMATCH', `--sha256: ${output} would have sha256 ${actual}, expected ${expected}`, { expected, actual });
    }
  });
}

/** `strata pull REF@DIGEST -o FILE`: nixpkgs' pullImage, an uncompressed docker-archive usable as `fromImage`. */
export function registerPull(program: Command, context: CommandContext): void {
  const host = hostPlatform();
  program
    .command('pull')
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
    .action(async (reference: Reference, flags: PullFlags, command: Command) => {
      const { signal } = context;
      const platform = chosenPlatform(command, flags);
      const image = await pullImage(reference, { platform, insecure: !flags.tlsVerify, signal });
      const name = repoTag(flags.finalName ?? reference.repository, flags.finalTag);
      const dir = await mkdtemp(join(tmpdir(), 'strata-pull-'));
      try {
        const layers = await archiveLayers(image, dir, signal, context.stderr);
        await writeArchive(resolve(flags.output), layers, image, name, flags.sha256, signal);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
      context.stderr.write(`pulled ${image.reference.registry}/${image.reference.repository}@${image.digest} as ${name}\n`);
    });
}
