import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { mergeImages } from '@strata/dockertools';
import { type Compressor, saveImages } from '@strata/image';
import { type Command, Option } from 'commander';
import type { CommandContext } from '../context.js';
import { createProgress } from '../layered/progress.js';
import { addReportOptions, createReporter, type ReportFlags } from '../report.js';

interface MergeFlags extends ReportFlags {
  readonly output: string;
  readonly compressor?: Compressor;
}

/** `strata merge IMAGE... -o FILE`: nixpkgs' mergeImages, several images in one docker-archive. */
export function registerMerge(program: Command, context: CommandContext): void {
  addReportOptions(program.command('merge'), 'print what was written as JSON on stdout: {file, size, images: [{imageId, repoTags}]}')
    .description("merge images into one docker-archive (nixpkgs' mergeImages): podman load / docker load load each with its tags")
    .argument('<images...>', 'docker-archives (plain, gz or zstd), each holding one or more images')
    .requiredOption('-o, --output <file>', 'the docker-archive to write, atomically (required)')
    .addOption(new Option('--compressor <name>', "whole-archive compression (default: the last input's, as nixpkgs does)").choices(['none', 'gz', 'zstd']))
    .action(async (files: string[], flags: MergeFlags) => {
      const { signal } = context;
      const report = createReporter(flags, context);
      const merged = await mergeImages(files, { signal });
      try {
        const layers = new Map(merged.images.flatMap((image) => image.layers.map((l) => [l.diffId ?? l, l.size] as const)));
        const progress = createProgress(report.context.stderr, [...layers.values()].reduce((a, b) => a + b, 0), layers.size);
        const file = resolve(flags.output);
        const saved = await saveImages(merged.images, file, {
          compressor: flags.compressor ?? merged.compressor,
          signal,
          onLayer: progress.onLayer,
          through: progress.stages,
        });
        progress.finish();
        const names = saved.map((s) => (s.repoTags.length > 0 ? s.repoTags.join(', ') : `${s.imageId.slice(0, 19)} (untagged)`));
        report.info(`merged ${saved.length} images into ${flags.output}: ${names.join('; ')}`);
        const images = saved.map((s) => ({ imageId: s.imageId, repoTags: s.repoTags }));
        report.result({ file, size: (await stat(file)).size, images });
      } finally {
        await merged.dispose();
      }
    });
}
