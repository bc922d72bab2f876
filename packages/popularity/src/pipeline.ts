import { PipelineError } from './errors.js';

/** A path argument of `split_paths`: a store path, or every direct reference of some paths. */
export type SplitPathSpec = string | { readonly childrenOf: readonly string[] };

/** One parsed step of a layering pipeline (nixpkgs' flatten-references-graph `layeringPipeline`). */
export type PipelineStep =
  | { readonly step: 'popularity_contest' | 'flatten' | 'reverse' }
  | { readonly step: 'limit_layers' | 'split_every'; readonly count: number }
  | { readonly step: 'subcomponent_in' | 'subcomponent_out' | 'remove_paths'; readonly paths: readonly string[] }
  | { readonly step: 'split_paths'; readonly paths: readonly SplitPathSpec[] }
  | { readonly step: 'over'; readonly key: string; readonly apply: PipelineStep }
  | { readonly step: 'map'; readonly apply: PipelineStep }
  | { readonly step: 'pipe'; readonly steps: readonly PipelineStep[] };

/** Every step name a pipeline may use. */
export const PIPELINE_STEPS = [
  'popularity_contest',
  'limit_layers',
  'split_every',
  'subcomponent_in',
  'subcomponent_out',
  'split_paths',
  'over',
  'map',
  'pipe',
  'flatten',
  'reverse',
  'remove_paths',
] as const;

/**
 * Parses the JSON description of a layering pipeline (a list of `[name, ...args]` steps, exactly as
 * dockerTools' `layeringPipeline` takes it) and names the offending element on error.
 * @example parsePipeline([['subcomponent_out', ['/nix/store/…-perl']], ['over', 'rest', ['popularity_contest']]])
 */
export function parsePipeline(pipeline: unknown): PipelineStep[] {
  if (!Array.isArray(pipeline)) throw new PipelineError(`pipeline: expected a list of steps, got ${describe(pipeline)}`);
  return pipeline.map((step, i) => parseStep(step, `pipeline[${i}]`, 0));
}

/** nixpkgs' pipelines nest a few levels; a limit keeps a hostile one from overflowing the stack. */
const MAX_DEPTH = 64;

function parseStep(raw: unknown, at: string, depth: number): PipelineStep {
  if (depth >= MAX_DEPTH) throw new PipelineError(`${at}: steps nested deeper than ${MAX_DEPTH}`);
  if (!Array.isArray(raw) || typeof raw[0] !== 'string') {
    throw new PipelineError(`${at}: expected a step ["name", ...arguments], got ${describe(raw)}`);
  }
  const [name, ...args] = raw as [string, ...unknown[]];
  const where = `${at} (${name})`;
  switch (name) {
    case 'popularity_contest':
    case 'flatten':
    case 'reverse':
      arity(args, 0, where);
      return { step: name };
    case 'limit_layers':
    case 'split_every':
      arity(args, 1, where);
      return { step: name, count: positiveInteger(args[0], `${where}: count`) };
    case 'subcomponent_in':
    case 'subcomponent_out':
      arity(args, 1, where);
      return { step: name, paths: pathList(args[0], `${where}: paths`) };
    case 'remove_paths':
      arity(args, 1, where);
      // nixpkgs accepts a single path as well as a list here (and only here).
      return { step: name, paths: typeof args[0] === 'string' ? [args[0]] : pathList(args[0], `${where}: paths`) };
    case 'split_paths':
      arity(args, 1, where);
      return { step: name, paths: splitPathSpecs(args[0], `${where}: paths`) };
    case 'over':
      arity(args, 2, where);
      if (typeof args[0] !== 'string') throw new PipelineError(`${where}: key: expected a string, got ${describe(args[0])}`);
      return { step: name, key: args[0], apply: parseStep(args[1], `${at}[2]`, depth + 1) };
    case 'map':
      arity(args, 1, where);
      return { step: name, apply: parseStep(args[0], `${at}[1]`, depth + 1) };
    case 'pipe':
      arity(args, 1, where);
      if (!Array.isArray(args[0])) throw new PipelineError(`${where}: expected a list of steps, got ${describe(args[0])}`);
      return { step: name, steps: args[0].map((s: unknown, i: number) => parseStep(s, `${at}[1][${i}]`, depth + 1)) };
    default:
      throw new PipelineError(`${at}: unknown step "${name}" (known: ${PIPELINE_STEPS.join(', ')})`);
  }
}

function arity(args: readonly unknown[], expected: number, where: string): void {
  if (args.length !== expected) {
    throw new PipelineError(`${where}: expected ${expected} argument${expected === 1 ? '' : 's'}, got ${args.length}`);
  }
}

function positiveInteger(value: unknown, where: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new PipelineError(`${where}: expected an integer >= 1, got ${describe(value)}`);
  }
  return value;
}

function pathList(value: unknown, where: string): string[] {
  if (!Array.isArray(value) || value.some((p) => typeof p !== 'string')) {
    throw new PipelineError(`${where}: expected a list of store paths, got ${describe(value)}`);
  }
  return value as string[];
}

function splitPathSpecs(value: unknown, where: string): SplitPathSpec[] {
  if (!Array.isArray(value)) throw new PipelineError(`${where}: expected a list, got ${describe(value)}`);
  return value.map((spec: unknown, i: number) => {
    if (typeof spec === 'string') return spec;
    if (typeof spec === 'object' && spec !== null && !Array.isArray(spec)) {
      const keys = Object.keys(spec);
      const children = (spec as Record<string, unknown>).children_of;
      if (keys.length === 1 && keys[0] === 'children_of') {
        return { childrenOf: typeof children === 'string' ? [children] : pathList(children, `${where}[${i}].children_of`) };
      }
      throw new PipelineError(`${where}[${i}]: expected {"children_of": path | [paths]}, got keys ${keys.join(', ')}`);
    }
    throw new PipelineError(`${where}[${i}]: expected a store path or {"children_of": ...}, got ${describe(spec)}`);
  });
}

function describe(value: unknown): string {
  if (Array.isArray(value)) return 'a list';
  if (value === null) return 'null';
  if (typeof value === 'object') return 'an object';
  const text = JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 79)}…` : text;
}

/** Every store path a parsed pipeline names (to warn about those that are not in the graph). */
export function pipelinePaths(steps: readonly PipelineStep[]): string[] {
  const out: string[] = [];
  const visit = (s: PipelineStep): void => {
    if ('paths' in s) for (const p of s.paths) out.push(...(typeof p === 'string' ? [p] : p.childrenOf));
    if ('apply' in s) visit(s.apply);
    if ('steps' in s) s.steps.forEach(visit);
  };
  steps.forEach(visit);
  return out;
}
