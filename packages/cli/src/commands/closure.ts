import { type ClosureSource, collectClosure, type StorePath } from '@strata/closure';
import { type Command, Option } from 'commander';
import type { CommandContext } from '../context.js';
import { CliError } from '../errors.js';
import { formatBytes, formatTable } from '../format.js';
import { addReportOptions, createReporter, type ReportFlags } from '../report.js';
import { which } from '../which.js';

interface ClosureFlags extends ReportFlags {
  graph?: string;
  registration?: string;
  scan?: boolean;
  source?: ClosureSource;
  storeRoot?: string;
}

function chooseSource(flags: ClosureFlags): ClosureSource {
  const chosen = [flags.graph && 'graph', flags.registration && 'registration', flags.scan && 'scan', flags.source].filter(Boolean);
  if (new Set(chosen).size > 1) throw new CliError(`closure: choose one source, not ${chosen.join(' and ')}`, 'USAGE');
  if (flags.source) return flags.source;
  if (flags.graph) return 'graph';
  if (flags.registration) return 'registration';
  if (flags.scan) return 'scan';
  // No source named: a live Nix when there is one, else read the store itself.
  return which('nix') ? 'nix' : 'scan';
}

function renderTable(records: readonly StorePath[]): string {
  const total = records.reduce((sum, r) => sum + r.narSize, 0);
  const rows = [
    ['NAR SIZE', 'REFS', 'PATH'],
    ...records.map((r) => [formatBytes(r.narSize), String(r.references.filter((x) => x !== r.path).length), r.path]),
    [formatBytes(total), '', `total: ${records.length} paths (${total} bytes)`],
  ];
  return `${formatTable(rows, [true, true, false])}\n`;
}

/** `strata closure ROOT...`: prints the closure of store paths from any source. */
export function registerClosure(program: Command, context: CommandContext): void {
  addReportOptions(program.command('closure'), 'print a JSON list of {path, narSize, narHash, references} instead of a table')
    .description('print the closure of store paths (path, NAR size, NAR hash, references)')
    .argument('[roots...]', 'store paths, files inside them, or links into the store such as ./result')
    .option('--graph <file>', 'read a references-graph JSON file (exportReferencesGraph)')
    .option('--registration <file>', 'read a closureInfo registration / nix-store --dump-db file')
    .option('--scan', 'no Nix: scan the files for references and compute NAR sizes and hashes')
    .addOption(new Option('--source <source>', 'where the closure comes from').choices(['nix', 'nix-store', 'graph', 'registration', 'scan']))
    .option('--store-root <dir>', 'a chroot store: read /nix/store/... from DIR/nix/store/...')
    .addHelpText('after', '\nDefault source: nix when the nix command exists, else --scan. With --graph or --registration and no roots, the whole file.')
    .action(async (roots: string[], flags: ClosureFlags) => {
      const source = chooseSource(flags);
      const records = await collectClosure(roots, {
        source,
        ...(flags.graph ? { graphFile: flags.graph } : {}),
        ...(flags.registration ? { registrationFile: flags.registration } : {}),
        ...(flags.storeRoot ? { storeRoot: flags.storeRoot } : {}),
        signal: context.signal,
      });
      const list = records.map((r) => ({ path: r.path, narSize: r.narSize, ...(r.narHash ? { narHash: r.narHash } : {}), references: r.references }));
      createReporter(flags, context).result(list, renderTable(records));
    });
}
