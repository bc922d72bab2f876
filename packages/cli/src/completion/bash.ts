import { allCommands, type CompletionCommand, flagsOf, type ValueKind } from './model.js';

/** A word for bash, single-quoted. */
function quote(word: string): string {
  return `'${word.replaceAll("'", "'\\''")}'`;
}

function entries(name: string, pairs: readonly (readonly [string, string])[]): string {
  const body = pairs.map(([key, value]) => `  [${quote(key)}]=${quote(value)}`).join('\n');
  return `declare -gA ${name}=(\n${body}\n)`;
}

/** `file`, `dir`, `choice WORD...` or `none`, as _strata_value reads it. */
function kindWord(value: ValueKind): string {
  return value.kind === 'choice' ? ['choice', ...value.words].join(' ') : value.kind;
}

// Walks the words before the cursor to find the command path (skipping options and the values
// they take), then completes the option value, option, subcommand or positional argument due.
const FUNCTIONS = `
_strata_has() { # WORD LIST: is WORD one of the words of LIST?
  [[ " $2 " == *" $1 "* ]]
}

_strata_value() { # KIND [WORD...]: completes $cur as a value of that kind
  local kind=$1
  shift
  case $kind in
    file) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "$cur")) ;;
    dir) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -d -- "$cur")) ;;
    choice) COMPREPLY=($(compgen -W "$*" -- "$cur")) ;;
    *) COMPREPLY=() ;;
  esac
}

_strata() {
  local cur=\${COMP_WORDS[COMP_CWORD]} n=$COMP_CWORD key=strata word option='' positional=0 i
  COMPREPLY=()
  # bash splits --flag=value at the "=" (COMP_WORDBREAKS): the value follows an "=" word.
  if [[ $cur == = ]]; then
    option=\${COMP_WORDS[n - 1]} cur='' n=$((n - 1))
  elif [[ \${COMP_WORDS[n - 1]} == = ]]; then
    option=\${COMP_WORDS[n - 2]} n=$((n - 2))
  fi
  for ((i = 1; i < n; i++)); do
    word=\${COMP_WORDS[i]}
    if [[ $word == -* ]]; then
      if [[ \${COMP_WORDS[i + 1]} == = ]]; then
        ((i += 2))
      elif _strata_has "$word" "\${_strata_valued[$key]}" || { _strata_has "$word" "\${_strata_optional[$key]}" && [[ \${COMP_WORDS[i + 1]} != -* ]]; }; then
        if ((i + 1 == n)); then option=$word; break; fi
        ((i++))
      fi
    elif _strata_has "$word" "\${_strata_commands[$key]}"; then
      key="$key $word" positional=0
    else
      ((positional++))
    fi
  done
  if [[ -n $option ]] && ! { [[ $cur == -* ]] && _strata_has "$option" "\${_strata_optional[$key]}"; }; then
    _strata_value \${_strata_values[$key $option]:-none}
    return
  fi
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "\${_strata_options[$key]}" -- "$cur"))
    return
  fi
  if [[ -n \${_strata_commands[$key]} ]]; then
    COMPREPLY=($(compgen -W "\${_strata_commands[$key]}" -- "$cur"))
    return
  fi
  local -a kinds=(\${_strata_args[$key]})
  local kind=\${kinds[positional]:-}
  if [[ -z $kind && \${kinds[-1]:-} == *... ]]; then kind=\${kinds[-1]}; fi
  local -a words=(\${_strata_choices[$key $positional]:-})
  if [[ \${kind%...} == choice ]]; then _strata_value choice "\${words[@]}"; else _strata_value "\${kind%...}"; fi
}

complete -F _strata strata
`;

/**
 * A bash completion script for the program `model` describes: `source <(strata completion bash)`.
 * It holds the commands, flags and value kinds as associative arrays (bash 4 and later) and one
 * function that reads them.
 */
export function bashCompletion(model: CompletionCommand, version: string): string {
  const commands = allCommands(model);
  // Keyed by the command path after the program's name (bash refuses an empty key).
  const key = (c: CompletionCommand) => ['strata', ...c.path].join(' ');
  const valued = commands.map((c) => [key(c), c.options.filter((o) => o.takes === 'required').flatMap(flagsOf).join(' ')] as const);
  const optional = commands.map((c) => [key(c), c.options.filter((o) => o.takes === 'optional').flatMap(flagsOf).join(' ')] as const);
  const values = commands.flatMap((c) =>
    c.options.filter((o) => o.takes !== 'none' && o.value.kind !== 'none').flatMap((o) => flagsOf(o).map((f) => [`${key(c)} ${f}`, kindWord(o.value)] as const)),
  );
  // Positional kinds in order (`file none`, `file...`); the words of a choice separately, by position.
  const args = commands.map((c) => [key(c), c.args.map((a) => `${a.value.kind}${a.variadic ? '...' : ''}`).join(' ')] as const);
  const choices = commands.flatMap((c) =>
    c.args.flatMap((a, i) => (a.value.kind === 'choice' ? [[`${key(c)} ${i}`, a.value.words.join(' ')] as const] : [])),
  );
  return [
    `# bash completion for strata ${version}, written by \`strata completion bash\` from its commands.`,
    '# Load it with: source <(strata completion bash)',
    entries('_strata_commands', commands.map((c) => [key(c), c.commands.map((s) => s.name).join(' ')])),
    entries('_strata_options', commands.map((c) => [key(c), c.options.flatMap(flagsOf).join(' ')])),
    entries('_strata_valued', valued),
    entries('_strata_optional', optional),
    entries('_strata_values', values),
    entries('_strata_args', args),
    entries('_strata_choices', choices),
    FUNCTIONS,
  ].join('\n');
}
