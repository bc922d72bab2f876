const kPopularityError = Symbol.for('strata.popularity.PopularityError');
const kLayerBudgetError = Symbol.for('strata.popularity.LayerBudgetError');
const kInvalidOptionError = Symbol.for('strata.popularity.InvalidOptionError');
const kInvalidGraphError = Symbol.for('strata.popularity.InvalidGraphError');
const kDuplicatePathError = Symbol.for('strata.popularity.DuplicatePathError');
const kUnknownReferenceError = Symbol.for('strata.popularity.UnknownReferenceError');
const kReferenceCycleError = Symbol.for('strata.popularity.ReferenceCycleError');
const kPipelineError = Symbol.for('strata.popularity.PipelineError');

/** Every code a {@link PopularityError} can carry. */
export type PopularityErrorCode =
  | 'LAYER_BUDGET'
  | 'INVALID_OPTION'
  | 'INVALID_GRAPH'
  | 'DUPLICATE_PATH'
  | 'UNKNOWN_REFERENCE'
  | 'REFERENCE_CYCLE'
  | 'INVALID_PIPELINE';

/** Base class of every error thrown by @strata/popularity; `instanceof` works across installed copies. */
export class PopularityError extends Error {
  readonly code: PopularityErrorCode;
  readonly [kPopularityError] = true;
  constructor(code: PopularityErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'PopularityError';
    this.code = code;
  }
  static override [Symbol.hasInstance](value: unknown): boolean {
    return (
      typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[kPopularityError] === true
    );
  }
}

/** The layer budget leaves no layer for store paths (nixpkgs: "At least 1 layer is required to store contents"). */
export class LayerBudgetError extends PopularityError {
  declare readonly code: 'LAYER_BUDGET';
  readonly [kLayerBudgetError] = true;
  constructor(message: string) {
    super('LAYER_BUDGET', message);
    this.name = 'LayerBudgetError';
  }
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[kLayerBudgetError] === true;
  }
}

/** An option of {@link planLayers} is invalid (unknown algorithm, limit below 1, ...). */
export class InvalidOptionError extends PopularityError {
  declare readonly code: 'INVALID_OPTION';
  readonly [kInvalidOptionError] = true;
  constructor(message: string) {
    super('INVALID_OPTION', message);
    this.name = 'InvalidOptionError';
  }
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[kInvalidOptionError] === true;
  }
}

/** A graph node is malformed (path not a non-empty string, narSize not a non-negative number, ...). */
export class InvalidGraphError extends PopularityError {
  declare readonly code: 'INVALID_GRAPH';
  readonly [kInvalidGraphError] = true;
  constructor(message: string) {
    super('INVALID_GRAPH', message);
    this.name = 'InvalidGraphError';
  }
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[kInvalidGraphError] === true;
  }
}

/** The same store path appears twice in the graph. */
export class DuplicatePathError extends PopularityError {
  declare readonly code: 'DUPLICATE_PATH';
  readonly [kDuplicatePathError] = true;
  readonly path: string;
  constructor(path: string, index: number) {
    super('DUPLICATE_PATH', `graph[${index}]: duplicate path ${path}`);
    this.name = 'DuplicatePathError';
    this.path = path;
  }
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[kDuplicatePathError] === true;
  }
}

/** A node references a store path that is not a node of the graph (the closure is not closed). */
export class UnknownReferenceError extends PopularityError {
  declare readonly code: 'UNKNOWN_REFERENCE';
  readonly [kUnknownReferenceError] = true;
  readonly path: string;
  readonly reference: string;
  constructor(path: string, reference: string) {
    super('UNKNOWN_REFERENCE', `graph: ${path} references ${reference}, which is not in the graph`);
    this.name = 'UnknownReferenceError';
    this.path = path;
    this.reference = reference;
  }
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[kUnknownReferenceError] === true;
  }
}

/** The references form a cycle through two or more paths (Nix closures only have self-references). */
export class ReferenceCycleError extends PopularityError {
  declare readonly code: 'REFERENCE_CYCLE';
  readonly [kReferenceCycleError] = true;
  readonly path: string;
  constructor(path: string) {
    super('REFERENCE_CYCLE', `graph: ${path} is part of a reference cycle`);
    this.name = 'ReferenceCycleError';
    this.path = path;
  }
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[kReferenceCycleError] === true;
  }
}

/** A layering pipeline is malformed: unknown step, wrong arguments, or a step applied to the wrong value. */
export class PipelineError extends PopularityError {
  declare readonly code: 'INVALID_PIPELINE';
  readonly [kPipelineError] = true;
  constructor(message: string) {
    super('INVALID_PIPELINE', message);
    this.name = 'PipelineError';
  }
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[kPipelineError] === true;
  }
}
