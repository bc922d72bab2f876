import type { CommandContext } from '../context.js';
import { type LayeredImage, prepareLayeredImage } from './image.js';
import { createProgress, type Progress } from './progress.js';
import type { LayeredSpec } from './spec.js';

/**
 * Prepares a layered image, lets `use` stream it (with progress on stderr when it is a terminal and
 * notices from the customisation layer on stderr), and always removes the working files afterwards.
 */
export async function withLayeredImage<T>(spec: LayeredSpec, context: CommandContext, use: (image: LayeredImage, progress: Progress) => Promise<T>): Promise<T> {
  let onLayer: (i: number) => void = () => {};
  const image = await prepareLayeredImage(spec, {
    signal: context.signal,
    onLayer: (i) => onLayer(i),
    onNotice: (message) => context.stderr.write(`strata: ${message}\n`),
  });
  try {
    const progress = createProgress(context.stderr, image.archive.size, image.layerSizes.length);
    onLayer = progress.onLayer;
    const result = await use(image, progress);
    progress.finish();
    return result;
  } finally {
    await image.dispose();
  }
}
