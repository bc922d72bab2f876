import { resolve } from 'node:path';
import { mergeImages } from '@strata/dockertools';
import { type Compressor, saveImages } from '@strata/image';
import { type Command, Option } from 'commander';
import type { CommandContext } from '../context.js';
import { createProgress } from '../layered/progress.js';

interface MergeFlags {
  readonly output: string;
  readonly compressor?: Compressor;
}

/** `strata merge IMAGE... -o FILE`: nixpkgs' mergeImages, several images in one docker-archive. */
export function registerMerge(program: Command, context: CommandContext): void {
  program
    .command('merge')
    .description("merge images into one docker-archive (nixpkgs' mergeImages): podman load / docker load load each with its tags")
    .argument('<images...>', 'docker-archives (plain, gz or zstd), each holding one or more images')
    .requiredOption('-o, --output <file>', 'the docker-archive to write, atomically (required)')
    .addOption(new Option('--compressor <name>', "whole-archive compression (default: the last input's, as nixpkgs does)").choices(['none', 'gz', 'zstd']))
    .action(async (files: string[], flags: MergeFlags) => {
      const { signal } = context;
      const merged = await mergeImages(files, { signal });
      try {
        const layers = new Map(merged.images.flatMap((image) => image.layers.map((l) => [l.diffId ?? l, l.size] as const)));
        const progress = createProgress(context.stderr, [...layers.values()].reduce((a, b) => a + b, 0), layers.size);
        const saved = await saveImages(merged.images, resolve(flags.output), {
          compressor: flags.compressor ?? merged.compressor,
          signal,
          onLayer: progress.onLayer,
          through: progress.stages,
        });
        progress.finish();
        const names = saved.map((s) => (s.repoTags.length > 0 ? s.repoTags.join(', ') : `${s.imageId.slice(0, 19)} (untagged)`));
        context.stderr.write(`merged ${saved.length} images into ${flags.output}: ${names.join('; ')}\n`);
      } finally {
        await merged.dispose();
      }
    });
}
