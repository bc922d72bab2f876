import { open } from 'node:fs/promises';
import { resolve } from 'node:path';
import {
  isNixShellSpec,
  NIX_SHELL_SPEC_PATH_KEYS,
  parseLayeredSpec,
  parseNixShellSpec,
  readSpecFile,
  SPEC_PATH_KEYS,
  streamLayeredImage,
  streamNixShellImage,
} from '@strata/dockertools';
import { type Image, pushImage, readImage } from '@strata/image';
import { parseReference, type PushProgress, type Reference, RegistryError } from '@strata/registry';
import { type Command, InvalidArgumentError } from 'commander';
import type { CommandContext } from '../context.js';
import { CliError } from '../errors.js';
import { addRegistryOptions, type RegistryFlags, registryOptions } from '../registry-options.js';
import { formatBytes } from '../format.js';

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

/**
 * The image to push, as a lazy value: an archive's (layers streamed from the file), or a spec's,
 * built straight into the registry: layers are packed while they upload, never written to disk.
 */
async function imageOf(file: string, context: CommandContext): Promise<Image> {
  if (!(await isSpecFile(file))) return readImage(file);
  const run = {
    signal: context.signal,
    // What the scripts print and contents conflicts, on stderr as build-layered shows them.
    onNotice: (message: string) => context.stderr.write(`strata: ${message}\n`),
  };
  const raw = await readSpecFile(file, [...SPEC_PATH_KEYS, ...NIX_SHELL_SPEC_PATH_KEYS]);
  // A spec naming a derivation ("drv") is a nix-shell image's, as stream-nix-shell --spec reads it.
  if (isNixShellSpec(raw)) return streamNixShellImage({ ...parseNixShellSpec(raw, file), ...run });
  return streamLayeredImage({ ...parseLayeredSpec(raw, file), ...run });
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
      const image = await imageOf(resolve(source), context);
      const pushed = await pushImage(image, reference, {
        concurrency: flags.jobs,
        ...registryOptions(flags, context),
        signal: context.signal,
        onProgress: reporter(context.stderr, image.layers.length),
      }).finally(() => image.dispose());
      const skipped = pushed.layers.filter((l) => l.status !== 'uploaded').length;
      context.stderr.write(`pushed ${pushed.layers.length} layers (${skipped} already there), sent ${formatBytes(pushed.uploadedBytes)}\n`);
      context.stdout.write(`${pushed.reference}\n`);
    });
}
