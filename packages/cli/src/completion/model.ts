import type { Command, Option } from 'commander';

/** What a value (of an option, or a positional argument) completes to. */
export type ValueKind = { readonly kind: 'file' } | { readonly kind: 'dir' } | { readonly kind: 'choice'; readonly words: readonly string[] } | { readonly kind: 'none' };

/** An option as the completion scripts need it. */
export interface CompletionOption {
  /** `-o`, when it has one. */
  readonly short?: string;
  /** `--output`. */
  readonly long: string;
  readonly description: string;
  /** Whether it takes a value: `<file>` (required), `[target]` (optional) or none. */
  readonly takes: 'required' | 'optional' | 'none';
  readonly value: ValueKind;
  /** A name for its value in messages (`file`). */
  readonly valueName: string;
  /** It may be given more than once (a list). */
  readonly repeatable: boolean;
}

/** A positional argument. */
export interface CompletionArgument {
  readonly name: string;
  readonly required: boolean;
  readonly variadic: boolean;
  readonly value: ValueKind;
}

/** A command (the program itself at the root) with everything a shell completes for it. */
export interface CompletionCommand {
  /** The words that lead to it: `[]` for the program, `['vm', 'run']`. */
  readonly path: readonly string[];
  readonly name: string;
  readonly description: string;
  readonly options: readonly CompletionOption[];
  readonly args: readonly CompletionArgument[];
  readonly commands: readonly CompletionCommand[];
}

// Value names that mean a path. Options name them `<file>`, `<dir>`, `<paths...>`, ...; a command's
// positional arguments are named by role (`<image>`, `<script>`, `[roots...]`), and an option's
// `<script>` is shell code, not a file.
const PATH_VALUES = new Set(['file', 'path', 'paths', 'bundle', 'target']);
const PATH_ARGUMENTS = new Set([...PATH_VALUES, 'image', 'images', 'source', 'drv', 'roots', 'script']);
const BOOLEAN_VALUES = new Set(['bool']);

function valueKind(name: string, choices: readonly string[] | undefined, paths: ReadonlySet<string>): ValueKind {
  if (choices?.length) return { kind: 'choice', words: choices };
  if (name === 'dir') return { kind: 'dir' };
  if (paths.has(name)) return { kind: 'file' };
  if (BOOLEAN_VALUES.has(name)) return { kind: 'choice', words: ['true', 'false'] };
  return { kind: 'none' };
}

function option(o: Option): CompletionOption {
  const valueName = /[<[]([^>\]]+?)(\.\.\.)?[>\]]/.exec(o.flags)?.[1] ?? '';
  const takes = o.required ? 'required' : o.optional ? 'optional' : 'none';
  return {
    ...(o.short ? { short: o.short } : {}),
    long: o.long ?? o.flags,
    description: o.description,
    takes,
    value: takes === 'none' ? { kind: 'none' } : valueKind(valueName, o.argChoices, PATH_VALUES),
    valueName: valueName || 'value',
    // A variadic option, or one that collects into a list (its default is one: `--mount`, `--ignore`).
    repeatable: o.variadic || Array.isArray(o.defaultValue),
  };
}

const HELP: CompletionOption = { short: '-h', long: '--help', description: 'display help for command', takes: 'none', value: { kind: 'none' }, valueName: 'value', repeatable: false };

function describe(command: Command, path: readonly string[]): CompletionCommand {
  const commands = command.commands.map((c) => describe(c, [...path, c.name()]));
  if (path.length === 0 && commands.length > 0) {
    // commander's implicit `help [command]`, which it adds when parsing.
    const names = commands.map((c) => c.name);
    const about = { name: 'command', required: false, variadic: false, value: { kind: 'choice', words: names } } as const;
    commands.push({ path: ['help'], name: 'help', description: 'display help for command', options: [], args: [about], commands: [] });
  }
  return {
    path,
    name: command.name(),
    description: command.description(),
    options: [...command.options.filter((o) => !o.hidden).map(option), HELP],
    args: command.registeredArguments.map((a) => ({
      name: a.name(),
      required: a.required,
      variadic: a.variadic,
      value: valueKind(a.name(), a.argChoices, PATH_ARGUMENTS),
    })),
    commands,
  };
}

/** Everything a completion script needs to know about `program`, read from its commander definition. */
export function completionModel(program: Command): CompletionCommand {
  return describe(program, []);
}

/** Every command below `root`, root first, depth first. */
export function allCommands(root: CompletionCommand): CompletionCommand[] {
  return [root, ...root.commands.flatMap(allCommands)];
}

/** The flags of an option: `-o` and `--output`, or just `--output`. */
export function flagsOf(option: CompletionOption): string[] {
  return option.short ? [option.short, option.long] : [option.long];
}
