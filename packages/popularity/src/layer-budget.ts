import { InvalidOptionError, LayerBudgetError } from './errors.js';

/**
 * The number of layers left for store paths, counted as nixpkgs counts it: `maxLayers` includes
 * the customisation layer and every layer of the base image (`fromImage`).
 * Throws a {@link LayerBudgetError} (`LAYER_BUDGET`) when no layer is left.
 * @example storeLayerBudget(100, 0) // 99
 */
export function storeLayerBudget(maxLayers: number, baseLayerCount: number): number {
  if (!Number.isInteger(maxLayers) || maxLayers < 1) {
    throw new InvalidOptionError(`maxLayers: expected an integer >= 1, got ${maxLayers}`);
  }
  if (!Number.isInteger(baseLayerCount) || baseLayerCount < 0) {
    throw new InvalidOptionError(`baseLayerCount: expected an integer >= 0, got ${baseLayerCount}`);
  }
  const used = 1 + baseLayerCount;
  if (used >= maxLayers) {
    throw new LayerBudgetError(
      `maxLayers: ${used} layer${used === 1 ? '' : 's'} already used (${baseLayerCount} from the base image, 1 customisation layer) but maxLayers is ${maxLayers}; at least 1 layer is required to store contents`,
    );
  }
  return maxLayers - used;
}
