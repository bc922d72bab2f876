import type { Command } from 'commander';
import { bashCompletion } from '../completion/bash.js';
import { fishCompletion } from '../completion/fish.js';
import { completionModel } from '../completion/model.js';
import { zshCompletion } from '../completion/zsh.js';
import type { CommandContext } from '../context.js';

const SHELLS = { bash: bashCompletion, zsh: zshCompletion, fish: fishCompletion } as const;

/** `strata completion bash|zsh|fish`: prints a completion script made from the program's own commands. */
export function registerCompletion(program: Command, context: CommandContext): void {
  program
    .command('completion')
    .description('print a shell completion script (commands, flags, their values, file names): source <(strata completion bash)')
    .addArgument(program.createArgument('<shell>', 'the shell to complete in').choices(Object.keys(SHELLS)))
    .addHelpText(
      'after',
      [
        '',
        'Load it in the running shell, or install it for new ones:',
        '  source <(strata completion bash)        or  strata completion bash > ~/.local/share/bash-completion/completions/strata',
        '  strata completion zsh > ~/.zfunc/_strata           (with fpath+=(~/.zfunc) before compinit in ~/.zshrc)',
        '  strata completion fish > ~/.config/fish/completions/strata.fish',
      ].join('\n'),
    )
    .action(async (shell: keyof typeof SHELLS) => {
      // The whole program, every command registered, whatever this run loaded (imported here, at
      // run time: program.ts imports this file).
      const { createProgram } = await import('../program.js');
      const whole = await createProgram({ signal: context.signal });
      context.stdout.write(SHELLS[shell](completionModel(whole), whole.version() ?? ''));
    });
}
