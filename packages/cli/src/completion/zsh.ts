import { allCommands, type CompletionArgument, type CompletionCommand, type CompletionOption, type ValueKind } from './model.js';

/** A word for zsh, single-quoted. */
function quote(text: string): string {
  return `'${text.replaceAll("'", "'\\''")}'`;
}

/** Text inside an `_arguments` `[description]`, or a `:message:`: brackets and colons escaped, one line. */
function escaped(text: string): string {
  return text.replace(/\s+/g, ' ').replace(/([\\[\]:])/g, '\\$1');
}

function action(value: ValueKind): string {
  switch (value.kind) {
    case 'file':
      return '_files';
    case 'dir':
      return '_files -/';
    case 'choice':
      return `(${value.words.join(' ')})`;
    case 'none':
      return ' ';
  }
}

function functionName(command: CompletionCommand): string {
  return ['_strata', ...command.path].join('__').replaceAll('-', '_');
}

/** One `_arguments` spec per option: `'(-o --output)'{-o,--output=}'[the file]:file:_files'`. */
function optionSpec(o: CompletionOption): string {
  const value = o.takes === 'none' ? '' : `${o.takes === 'optional' ? '::' : ':'}${escaped(o.valueName)}:${action(o.value)}`;
  const eq = o.takes === 'none' ? '' : '=';
  const description = `[${escaped(o.description)}]${value}`;
  const repeat = o.repeatable ? '*' : '';
  if (!o.short) return quote(`${repeat}${o.long}${eq}${description}`);
  const exclusive = o.repeatable ? '*' : `(${o.short} ${o.long})`;
  return `${quote(exclusive)}{${o.short},${o.long}${eq}}${quote(description)}`;
}

function argumentSpec(a: CompletionArgument): string {
  const head = a.variadic ? '*' : a.required ? '' : ':';
  return quote(`${head}:${escaped(a.name)}:${action(a.value)}`);
}

function commandFunction(command: CompletionCommand): string {
  const name = functionName(command);
  const options = command.options.map(optionSpec);
  if (command.commands.length === 0) {
    const specs = [...options, ...command.args.map(argumentSpec)];
    return `${name}() {\n  _arguments -s -S \\\n    ${specs.join(' \\\n    ')}\n}`;
  }
  const described = command.commands.map((c) => quote(`${c.name.replaceAll(':', '\\:')}:${c.description.replace(/\s+/g, ' ')}`));
  const cases = command.commands.map((c) => `    (${c.name}) ${functionName(c)} ;;`);
  return `${name}() {
  local curcontext=$curcontext state line
  local -a commands=(
    ${described.join('\n    ')}
  )
  _arguments -C -s -S \\
    ${[...options, "': :->command'", "'*:: :->argument'"].join(' \\\n    ')}
  case $state in
    (command) _describe -t commands ${quote(`${['strata', ...command.path].join(' ')} command`)} commands ;;
    (argument)
      curcontext=\${curcontext%:*:*}:${['strata', ...command.path].join('-')}-$words[1]:
      case $words[1] in
${cases.join('\n')}
      esac
      ;;
  esac
}`;
}

/**
 * A zsh completion script for the program `model` describes, one `_arguments` function per
 * command. Put it in a directory on `$fpath` as `_strata` (then `compinit`), or `source` it after
 * `compinit`.
 */
export function zshCompletion(model: CompletionCommand, version: string): string {
  const head = [
    '#compdef strata',
    `# zsh completion for strata ${version}, written by \`strata completion zsh\` from its commands.`,
    '# Save it as _strata in a directory on $fpath and run compinit, or source it after compinit.',
  ].join('\n');
  // As an autoloaded file the body runs on the first completion; when sourced, it registers itself.
  const tail = ['if [[ $zsh_eval_context[-1] == loadautofunc ]]; then', '  _strata "$@"', 'else', '  compdef _strata strata', 'fi'].join('\n');
  return `${[head, ...allCommands(model).map(commandFunction), tail].join('\n\n')}\n`;
}
