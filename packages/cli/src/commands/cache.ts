import { LayerCache } from '@strata/cache';
import { type Command, InvalidArgumentError } from 'commander';
import type { CommandContext } from '../context.js';
import { CliError } from '../errors.js';
import { formatBytes } from '../format.js';

interface PruneFlags {
  readonly olderThan?: number;
  readonly all?: boolean;
}

const UNITS: Readonly<Record<string, number>> = { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, w: 7 * 86400e3 };

/** Parses a duration such as `30d`, `12h`, `90m`, `2w` or `45s` into milliseconds. */
export function parseDuration(value: string): number {
  const match = /^(\d+)([smhdw])$/.exec(value.trim());
  if (!match) throw new InvalidArgumentError('expected a number and a unit: s, m, h, d or w (e.g. 30d)');
  return Number(match[1]) * UNITS[match[2]!]!;
}

/** `strata cache prune`: removes cache entries (layers and closures) not used for a while (or all). */
export function registerCache(program: Command, context: CommandContext): void {
  const cache = program.command('cache').description("strata's cache ($XDG_CACHE_HOME/strata, default ~/.cache/strata): what layers compress to, so pushes skip reading them, and the closures Nix gave");
  cache
    .command('prune')
    .description('remove cache entries (layers and closures) not used (read or written) for a while, and files left by killed processes; prints what it removed')
    .option('--older-than <duration>', 'remove entries unused for this long: 30d, 12h, 90m, 2w (default: 30d)', parseDuration)
    .option('--all', 'remove every entry')
    .action(async (flags: PruneFlags) => {
      if (flags.all && flags.olderThan !== undefined) throw new CliError('cache prune: give --older-than or --all, not both', 'USAGE');
      const layers = new LayerCache();
      const result = await layers.prune({ ...(flags.olderThan === undefined ? {} : { olderThanMs: flags.olderThan }), ...(flags.all ? { all: true } : {}) });
      context.stdout.write(`removed ${result.removed} entries (${formatBytes(result.bytes)}), kept ${result.kept}, in ${layers.directory}\n`);
    });
}
