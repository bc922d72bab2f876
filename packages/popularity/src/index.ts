export {
  DuplicatePathError,
  InvalidGraphError,
  InvalidOptionError,
  LayerBudgetError,
  PipelineError,
  PopularityError,
  type PopularityErrorCode,
  ReferenceCycleError,
  UnknownReferenceError,
} from './errors.js';
export type { GraphNode } from './graph-node.js';
export { storeLayerBudget } from './layer-budget.js';
export { PIPELINE_STEPS, type PipelineStep, parsePipeline, type SplitPathSpec } from './pipeline.js';
export { type LayerAlgorithm, type PlanLayersOptions, type PlanWarning, planLayers } from './plan-layers.js';
