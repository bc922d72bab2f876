import { autoLayer } from './_auto-layer.js';
import { compileGraph } from './_graph.js';
import { runPipeline } from './_pipeline-run.js';
import { rankByPopularity } from './_popularity.js';
import { InvalidOptionError } from './errors.js';
import type { GraphNode } from './graph-node.js';
import { parsePipeline, pipelinePaths } from './pipeline.js';

/** The layering algorithms of {@link planLayers}. */
export type LayerAlgorithm = 'auto' | 'popularity';

/** Something the planner noticed but, like nixpkgs, did not treat as an error. */
export interface PlanWarning {
  readonly code: 'IGNORED_PATH_NOT_IN_GRAPH' | 'PIPELINE_PATH_NOT_IN_GRAPH';
  /** The store path at issue. */
  readonly path: string;
  readonly message: string;
}

/** Options of {@link planLayers}. */
export interface PlanLayersOptions {
  /**
   * `auto`: nixpkgs' size-driven auto-layer (the current dockerTools default).
   * `popularity`: the popularity contest, then the first `limit - 1` paths one per layer and the
   * rest in one layer (nixpkgs' popularity-contest layering pipeline).
   * @default 'auto'
   */
  readonly algorithm?: LayerAlgorithm;
  /** How many store layers are available (see {@link storeLayerBudget}). Not used with `pipeline`. @default 100 */
  readonly limit?: number;
  /**
   * Paths that must not appear in any layer (dockerTools' base JSON and customisation layer).
   * auto-layer lets them take part in the split and removes them at the end; popularity and
   * pipelines remove them and every reference to them first, as nixpkgs does.
   * @default []
   */
  readonly ignore?: Iterable<string>;
  /** A JSON layering pipeline (dockerTools' `layeringPipeline`); when set, `algorithm` and `limit` are not used. @default undefined */
  readonly pipeline?: unknown;
  /** Receives each warning (ignored or pipeline paths that are not in the graph). @default undefined (dropped) */
  readonly onWarning?: (warning: PlanWarning) => void;
}

/**
 * Turns a closure into an ordered list of layers (each a list of store paths), exactly as nixpkgs'
 * dockerTools would. Pure and synchronous.
 * @example planLayers(closure, { limit: storeLayerBudget(100, 0), ignore: [customisationLayer] })
 */
export function planLayers(graph: Iterable<GraphNode>, options: PlanLayersOptions = {}): string[][] {
  const { algorithm = 'auto', limit = 100, pipeline, onWarning } = options;
  if (pipeline === undefined && algorithm !== 'auto' && algorithm !== 'popularity') {
    throw new InvalidOptionError(`algorithm: expected "auto" or "popularity", got ${JSON.stringify(algorithm)}`);
  }
  if (pipeline === undefined && (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1)) {
    throw new InvalidOptionError(`limit: expected an integer >= 1, got ${JSON.stringify(limit)}`);
  }
  const ignore = new Set(options.ignore ?? []);
  const steps = pipeline === undefined ? undefined : parsePipeline(pipeline);
  const excluded = steps !== undefined || algorithm === 'popularity';
  const compiled = compileGraph(graph, excluded ? ignore : new Set());
  const warn = (code: PlanWarning['code'], path: string, what: string) =>
    onWarning?.({ code, path, message: `${what} ${path} is not in the graph; it has no effect` });
  for (const path of ignore) if (!compiled.index.has(path) && !compiled.excluded.has(path)) warn('IGNORED_PATH_NOT_IN_GRAPH', path, 'ignored path');
  if (steps !== undefined) {
    for (const path of new Set(pipelinePaths(steps))) {
      if (!compiled.index.has(path)) warn('PIPELINE_PATH_NOT_IN_GRAPH', path, 'pipeline path');
    }
    return runPipeline(compiled, steps);
  }
  if (algorithm === 'auto') return autoLayer(compiled, ignore, limit);
  const ranked = rankByPopularity(compiled.paths.length, compiled.refs, compiled.paths).map((i) => compiled.paths[i]!);
  const layers = ranked.slice(0, limit - 1).map((p) => [p]);
  if (ranked.length >= limit) layers.push(ranked.slice(limit - 1));
  return layers;
}
