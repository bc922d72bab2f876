import { allCommands, type CompletionCommand, type CompletionOption, flagsOf, type ValueKind } from './model.js';

/** A word for fish, single-quoted (fish escapes only \ and ' inside single quotes). */
function quote(text: string): string {
  return `'${text.replace(/\s+/g, ' ').replace(/[\\']/g, '\\$&')}'`;
}

/** The command path after the program's name, as __strata_path prints it. */
function pathOf(command: CompletionCommand): string {
  return command.path.join(' ');
}

function valueFlags(value: ValueKind): string {
  switch (value.kind) {
    case 'file':
    case 'dir':
      return '-r -F';
    case 'choice':
      return `-x -a ${quote(value.words.join(' '))}`;
    case 'none':
      return '-x';
  }
}

function optionLine(command: CompletionCommand, o: CompletionOption): string {
  const names = [o.short ? `-s ${o.short.slice(1)}` : '', `-l ${o.long.slice(2)}`].filter(Boolean).join(' ');
  // An optional value is not required: fish then still offers the other options after it.
  const value = o.takes === 'required' ? ` ${valueFlags(o.value)}` : o.takes === 'optional' && o.value.kind === 'file' ? ' -F' : '';
  return `complete -c strata -n ${quote(`__strata_is ${quote(pathOf(command))}`)} ${names}${value} -d ${quote(o.description)}`;
}

function commandLines(command: CompletionCommand): string[] {
  const is = quote(`__strata_is ${quote(pathOf(command))}`);
  const lines = command.options.map((o) => optionLine(command, o));
  for (const c of command.commands) lines.push(`complete -c strata -n ${is} -a ${quote(c.name)} -d ${quote(c.description)}`);
  // Positional arguments: file names where the command takes paths, its words where it takes a choice.
  if (command.args.some((a) => a.value.kind === 'file' || a.value.kind === 'dir')) lines.push(`complete -c strata -n ${is} -F`);
  for (const a of command.args) if (a.value.kind === 'choice') lines.push(`complete -c strata -n ${is} -a ${quote(a.value.words.join(' '))}`);
  return lines;
}

/** `case` arms of a switch on "PATH FLAG" for every option that takes a value. */
function valuedCases(commands: readonly CompletionCommand[], takes: CompletionOption['takes']): string {
  const keys = commands.flatMap((c) => c.options.filter((o) => o.takes === takes).flatMap((o) => flagsOf(o).map((f) => quote(`${pathOf(c)} ${f}`.trim()))));
  return keys.length > 0 ? keys.join(' ') : "''";
}

/**
 * A fish completion script for the program `model` describes:
 * `strata completion fish > ~/.config/fish/completions/strata.fish`, or `... | source`.
 */
export function fishCompletion(model: CompletionCommand, version: string): string {
  const commands = allCommands(model);
  const subcommands = commands
    .filter((c) => c.commands.length > 0)
    .map((c) => `        case ${quote(pathOf(c))}\n            printf '%s\\n' ${c.commands.map((s) => quote(s.name)).join(' ')}`)
    .join('\n');
  return `# fish completion for strata ${version}, written by \`strata completion fish\` from its commands.
# Save it as ~/.config/fish/completions/strata.fish, or load it with: strata completion fish | source
complete -c strata -e

function __strata_subcommands --argument-names path
    switch $path
${subcommands}
    end
end

# Whether FLAG of the command at PATH takes the next word as its value (always, or when it is no flag).
function __strata_takes --argument-names path flag next
    switch (string trim -- "$path $flag")
        case ${valuedCases(commands, 'required')}
            return 0
        case ${valuedCases(commands, 'optional')}
            string match -q -- '-*' "$next"; and return 1
            return 0
    end
    return 1
end

# The command path of the words before the cursor ("", "vm run"): options and their values skipped.
function __strata_path
    set -l words (commandline -opc)
    set -e words[1]
    set -l path ''
    set -l i 1
    while test $i -le (count $words)
        set -l word $words[$i]
        set -l next $words[(math $i + 1)]
        if string match -q -- '-*' $word
            if not string match -q -- '*=*' $word; and __strata_takes "$path" $word "$next"
                set i (math $i + 1)
            end
        else if contains -- $word (__strata_subcommands "$path")
            set path (string trim -- "$path $word")
        end
        set i (math $i + 1)
    end
    echo $path
end

function __strata_is --argument-names want
    test "$(__strata_path)" = "$want"
end

complete -c strata -f
${commands.flatMap(commandLines).join('\n')}
`;
}
