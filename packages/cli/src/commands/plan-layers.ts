import { type GraphNode, PipelineError, PopularityError, planLayers, storeLayerBudget } from '@strata/popularity';
import { type Command, InvalidArgumentError, Option } from 'commander';
import * as z from 'zod';
import type { CommandContext } from '../context.js';
import { CliError } from '../errors.js';
import { formatBytes, formatTable } from '../format.js';
import { readJson } from '../json.js';
import { addReportOptions, createReporter, type ReportFlags } from '../report.js';

// `strata plan-layers`: inspect how a closure would be split into image layers.

const graphNode = z.looseObject({
  path: z.string().min(1),
  narSize: z.number().int().nonnegative(),
  narHash: z.string().optional(),
  closureSize: z.number().optional(),
  references: z.array(z.string()),
});
const nodeFields = graphNode.omit({ path: true }).extend({ path: z.string().optional() });

/**
 * The graph file: exportReferencesGraph's list (or `{"graph": [...]}`), or `nix path-info --json
 * --recursive` output, a list (Nix 2.8) or an object keyed by store path (newer Nix).
 */
const graphFile = z.union([
  z.array(graphNode),
  z.object({ graph: z.array(graphNode) }).transform((v) => v.graph),
  z
    .record(z.string().startsWith('/'), nodeFields)
    .transform((byPath) => Object.entries(byPath).map(([path, node]) => ({ ...node, path }))),
]);

// streamLayeredImage's default maxLayers; the store layers get what the other layers leave.
const DOCKER_TOOLS_MAX_LAYERS = 100;

interface PlanLayersFlags extends ReportFlags {
  graph: string;
  limit?: number;
  maxLayers?: number;
  baseLayers?: number;
  ignore: string[];
  algorithm: 'auto' | 'popularity';
  pipeline?: string;
  table?: boolean;
}

/** Registers `plan-layers`: prints the layers planned for a closure graph (JSON, or a table). */
export function registerPlanLayers(program: Command, context: CommandContext): void {
  addReportOptions(program.command('plan-layers'), 'print the layers as JSON, a list of lists of store paths (the default; not with --table)')
    .description('Plan the store layers of a closure as nixpkgs dockerTools would, and print them as JSON')
    .requiredOption('--graph <file>', 'closure graph: exportReferencesGraph JSON or nix path-info --json --recursive')
    .option('--limit <n>', 'store layers available (default: --max-layers minus the customisation and base layers)', positiveInteger)
    .option('--max-layers <n>', "dockerTools' maxLayers, counting the customisation layer and the base image's layers (default 100)", positiveInteger)
    .option('--base-layers <n>', 'layers of the base image (fromImage; default 0)', nonNegativeInteger)
    .option('--ignore <path>', 'a store path to leave out of every layer (repeatable)', collect, [])
    .addOption(new Option('--algorithm <name>', 'layering algorithm').choices(['auto', 'popularity']).default('auto'))
    .option('--pipeline <file>', 'a JSON layering pipeline (dockerTools layeringPipeline); replaces --algorithm/--limit')
    .option('--table', 'print one row per layer (size, path count, biggest paths) instead of JSON')
    .action(async (flags: PlanLayersFlags) => {
      for (const [other, value] of [['--max-layers', flags.maxLayers], ['--base-layers', flags.baseLayers]] as const) {
        if (flags.limit !== undefined && value !== undefined) throw new CliError(`--limit and ${other} are mutually exclusive`, 'USAGE');
      }
      if (flags.table && flags.json) throw new CliError('--table and --json are mutually exclusive', 'USAGE');
      const report = createReporter(flags, context);
      const graph = await readGraph(flags.graph);
      const pipeline = flags.pipeline === undefined ? undefined : await readJson(flags.pipeline, '--pipeline');
      const warn = (message: string) => report.context.stderr.write(`strata: warning: ${message}\n`);
      let layers: string[][];
      try {
        const limit = flags.limit ?? storeLayerBudget(flags.maxLayers ?? DOCKER_TOOLS_MAX_LAYERS, flags.baseLayers ?? 0);
        layers = planLayers(graph, {
          algorithm: flags.algorithm,
          limit,
          ignore: flags.ignore,
          pipeline,
          onWarning: (w) => warn(w.message),
        });
      } catch (error) {
        // Every planning error comes from the graph, pipeline or flags the user gave: an input
        // error, named by the file it is about.
        if (error instanceof PopularityError) throw new CliError(`${planErrorSource(error, flags)}${error.code}: ${error.message}`);
        throw error;
      }
      report.result(layers, flags.table ? renderTable(layers, graph) : `${JSON.stringify(layers, null, 2)}\n`);
    });
}

/** `--graph FILE: ` or `--pipeline FILE: ` for an error about that file; nothing for one about the flags. */
function planErrorSource(error: PopularityError, flags: PlanLayersFlags): string {
  if (error instanceof PipelineError) return `--pipeline ${flags.pipeline}: `;
  if (error.code === 'LAYER_BUDGET' || error.code === 'INVALID_OPTION') return '';
  return `--graph ${flags.graph}: `;
}

async function readGraph(file: string): Promise<GraphNode[]> {
  // As large as @strata/closure lets a graph file be.
  const parsed = graphFile.safeParse(await readJson(file, '--graph', 128 << 20));
  if (parsed.success) return parsed.data;
  // Report the issue of the branch the file was meant for: a list, {"graph": [...]}, or keyed by path.
  const issues = parsed.error.issues.flatMap((i) => (i.code === 'invalid_union' ? i.errors.flat() : [i]));
  const issue = issues.find((i) => i.path.length > 0) ?? issues[0];
  const at = issue ? `graph${issue.path.map((k) => (typeof k === 'number' ? `[${k}]` : `.${String(k)}`)).join('')}` : 'graph';
  throw new CliError(`--graph ${file}: ${at}: ${issue?.message ?? 'invalid'}`);
}

function renderTable(layers: readonly string[][], graph: readonly GraphNode[]): string {
  const size = new Map(graph.map((n) => [n.path, n.narSize]));
  const name = (path: string) => path.slice(path.indexOf('-') + 1);
  const rows = layers.map((paths, i) => {
    const bySize = [...paths].sort((a, b) => size.get(b)! - size.get(a)!);
    const total = paths.reduce((sum, p) => sum + size.get(p)!, 0);
    const biggest = bySize.slice(0, 3).map((p) => `${name(p)} (${formatBytes(size.get(p)!)})`);
    if (paths.length > 3) biggest.push(`+${paths.length - 3} more`);
    return [String(i + 1), formatBytes(total), String(paths.length), biggest.join(', ')];
  });
  return `${formatTable([['layer', 'size', 'paths', 'biggest paths'], ...rows])}\n`;
}

function positiveInteger(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1) throw new InvalidArgumentError('expected an integer >= 1');
  return n;
}

function nonNegativeInteger(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('expected an integer >= 0');
  return Number(value);
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
