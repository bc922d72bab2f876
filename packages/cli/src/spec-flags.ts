import { resolve } from 'node:path';
import { type RawSpec, readSpecFile, SPEC_PATH_KEYS } from '@strata/dockertools';
import { type Command, InvalidArgumentError, Option } from 'commander';

/** `--uid 1000`: a whole number. */
export function integer(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('expected a whole number');
  return Number(value);
}

/** `--config '{...}'`: any JSON value. */
export function json(value: string): unknown {
  try {
    return JSON.parse(value);
  } catch {
    throw new InvalidArgumentError('expected JSON');
  }
}

/**
 * One spec key as a flag: [commander flags, spec key, description with the default, parser], or
 * [a ready Option (choices, negation), spec key].
 */
export type SpecFlag = readonly [flags: string, key: string, description: string, parse?: (value: string) => unknown] | readonly [option: Option, key: string];

// Commander names an option's value after its flag (`--include-nix-db` -> includeNixDb), which is not
// always the spec key (includeNixDB): remember which value is which key, per command.
const specKeys = new WeakMap<Command, Map<string, string>>();

/** Adds `--spec FILE` and one flag per spec key to `command`. */
export function addSpecFlags(command: Command, specHelp: string, flags: readonly SpecFlag[]): Command {
  command.option('--spec <file>', specHelp);
  const keys = specKeys.get(command) ?? new Map<string, string>();
  specKeys.set(command, keys);
  for (const [names, key, description, parse] of flags) {
    const option = typeof names === 'string' ? new Option(names, description) : names;
    if (parse) option.argParser(parse);
    command.addOption(option);
    keys.set(option.attributeName(), key);
  }
  return command;
}

/**
 * The spec file (if any) with every flag the user gave on the command line laid over it, keyed by
 * spec key; relative file names in flags are taken from the current directory, in the spec from the
 * spec's. Returns the raw values and the name messages should use for them.
 */
export async function readSpecWithFlags(command: Command): Promise<{ raw: RawSpec; where: string }> {
  const flags = command.opts<Record<string, unknown>>();
  const raw: RawSpec = typeof flags.spec === 'string' ? await readSpecFile(flags.spec) : {};
  for (const [attribute, key] of specKeys.get(command) ?? []) {
    if (command.getOptionValueSource(attribute) !== 'cli') continue;
    const value = flags[attribute];
    const isPath = (SPEC_PATH_KEYS as readonly string[]).includes(key) && typeof value === 'string';
    raw[key] = isPath ? resolve(value as string) : value;
  }
  return { raw, where: typeof flags.spec === 'string' ? flags.spec : 'spec' };
}
