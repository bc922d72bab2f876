import { CommanderError } from 'commander';
import { describeError } from './errors.js';
import { createProgram } from './program.js';

/**
 * Runs the strata CLI with `argv` (without node and script) and resolves to the exit code.
 * Ctrl-C (or SIGTERM) aborts the running command through one AbortSignal, so partial outputs and
 * working directories are removed. Signals stay handled until the command has finished cleaning
 * up: a second Ctrl-C during cleanup is ignored rather than killing strata halfway through it.
 */
export async function main(argv: readonly string[]): Promise<number> {
  const controller = new AbortController();
  // The first signal aborts; later ones are absorbed while the command cleans up (kills its VM, removes
  // work directories and partial outputs): Node's default action would end the process half way.
  const onSignal = () => {
    if (!controller.signal.aborted) controller.abort(new DOMException('interrupted', 'AbortError'));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const program = await createProgram({ signal: controller.signal }, argv);
    await program.parseAsync(argv, { from: 'user' });
    // A command may report a status of its own (`vm run` passes on its script's exit code).
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    const { exitCode, message } = describeError(error);
    process.stderr.write(`strata: ${message}\n`);
    return controller.signal.aborted ? 130 : exitCode;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
