import { CacheError, ClosureCache, LayerCache } from '@strata/cache';
import { type Compression, ImageError, type LayerCacheStore, type LayerCompression, resolveCompression } from '@strata/image';
import { type Command, InvalidArgumentError, Option } from 'commander';
import type { CommandContext } from './context.js';
import { CliError } from './errors.js';

/** The flags of a command that compresses layers (push, OCI output): `--compression`, `--compression-level`, `--no-cache`. */
export interface LayerFlags {
  readonly compression?: Compression;
  readonly compressionLevel?: number;
  /** false with `--no-cache`. */
  readonly cache: boolean;
}

function level(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('expected a whole number');
  return Number(value);
}

/** Adds `--compression`, `--compression-level` and `--no-cache`; `defaultCompression` is the default as the help shows it. */
export function addLayerOptions(command: Command, defaultCompression: string): Command {
  return command
    .addOption(new Option('--compression <name>', `compression of each layer (default: ${defaultCompression})`).choices(['none', 'gzip', 'zstd']))
    .addOption(new Option('--compression-level <n>', 'gzip 1-9 (default 3), zstd 1-19 (default 3)').argParser(level))
    .option('--no-cache', 'neither use nor record the cache of layers and of closures Nix gave ($XDG_CACHE_HOME/strata, default ~/.cache/strata)');
}

/** The layer compression the flags ask for (`fallback` when no --compression); a bad level is a usage error. */
export function layerCompression(flags: LayerFlags, fallback: Compression): Required<Pick<LayerCompression, 'compression'>> & LayerCompression {
  const compression = flags.compression ?? fallback;
  try {
    const resolved = resolveCompression({ compression, ...(flags.compressionLevel === undefined ? {} : { level: flags.compressionLevel }) });
    return { compression: resolved.compression, ...(flags.compressionLevel === undefined ? {} : { level: resolved.level }) };
  } catch (error) {
    if (error instanceof ImageError) throw new CliError(`--${error.message.replace(/^compression level/, 'compression-level')}`, 'USAGE');
    throw error;
  }
}

/**
 * The layer cache unless `--no-cache`, with a reporter that says once on stderr when it cannot be
 * written (the command goes on without it: a cache is never worth failing a build for).
 */
export function layerCache(flags: LayerFlags, context: CommandContext): { cache?: LayerCacheStore; onCacheError?: (error: unknown) => void } {
  if (!flags.cache) return {};
  let told = false;
  return {
    cache: new LayerCache(),
    onCacheError: (error) => {
      if (told) return;
      told = true;
      const message = error instanceof CacheError ? error.message : String(error);
      context.stderr.write(`strata: ${message} (going on without recording)\n`);
    },
  };
}

/**
 * The closure cache unless `--no-cache`: what live Nix answered for the image's contents, used again
 * while every path is still the one Nix was asked about. Never reported: a miss only asks Nix.
 */
export function closureCache(flags: Pick<LayerFlags, 'cache'>): { closureCache?: ClosureCache } {
  return flags.cache === false ? {} : { closureCache: new ClosureCache() };
}
