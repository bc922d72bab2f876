import type { Image } from '@strata/image';
import type { CommandContext } from './context.js';
import { createProgress, type Progress } from './layered/progress.js';

/** Where a builder's notices go: stderr, one `strata: ` line each (contents conflicts, what scripts printed). */
export function noticesTo(context: CommandContext): (message: string) => void {
  return (message) => context.stderr.write(`strata: ${message}\n`);
}

/**
 * Lets `use` stream a built image (nothing read yet) to a sink, with progress on stderr when it is a
 * terminal, and always disposes of the image afterwards (its working files are removed).
 */
export async function withImage<I extends Image, T>(image: I, context: CommandContext, use: (image: I, progress: Progress) => Promise<T>): Promise<T> {
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
