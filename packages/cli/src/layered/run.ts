import { type BuiltImage, type LayeredImageOptions, type RunOptions, streamLayeredImage } from '@strata/dockertools';
import type { CommandContext } from '../context.js';
import { createProgress, type Progress } from './progress.js';

/**
 * Builds a layered image (nothing is read yet), lets `use` stream it to a sink, with progress on
 * stderr when it is a terminal and notices from the customisation layer on stderr, and always
 * removes the working files afterwards.
 */
export function withLayeredImage<T>(options: LayeredImageOptions, context: CommandContext, use: (image: BuiltImage, progress: Progress) => Promise<T>): Promise<T> {
  return withBuiltImage((run) => streamLayeredImage({ ...options, ...run }), context, use);
}

/**
 * Builds an image with `build` (given the command's signal and a notice printer), lets `use`
 * stream it to a sink with progress on a terminal, and always disposes of it afterwards.
 */
export async function withBuiltImage<T>(
  build: (run: Required<RunOptions>) => Promise<BuiltImage>,
  context: CommandContext,
  use: (image: BuiltImage, progress: Progress) => Promise<T>,
): Promise<T> {
  const image = await build({
    signal: context.signal,
    onNotice: (message) => context.stderr.write(`strata: ${message}\n`),
  });
  try {
    const total = image.layers.reduce((sum, l) => sum + l.size, 0);
    const progress = createProgress(context.stderr, total, image.layers.length);
    const result = await use(image, progress);
    progress.finish();
    return result;
  } finally {
    await image.dispose();
  }
}
