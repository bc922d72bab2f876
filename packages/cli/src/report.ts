import { Writable } from 'node:stream';
import type { Command } from 'commander';
import type { CommandContext } from './context.js';
import { CliError } from './errors.js';

/** `--quiet` and `--json` as commander parses them. */
export interface ReportFlags {
  readonly quiet?: boolean;
  readonly json?: boolean;
}

/**
 * Adds `-q, --quiet` to `command`, and `--json` with the help text `json` (a command whose stdout
 * is an image has no JSON to give).
 */
export function addReportOptions(command: Command, json?: string): Command {
  command.option('-q, --quiet', 'nothing on stderr but errors (no progress, notices or summary); stdout keeps only the result');
  if (json !== undefined) command.option('--json', json);
  return command;
}

/** How a command tells what it did: its result on stdout, lines for people on stderr. */
export interface Reporter {
  /**
   * The command's context for the work itself; under --quiet its stderr is a sink, so progress
   * (drawn only when stderr is a terminal), notices and what scripts print go nowhere.
   */
  readonly context: CommandContext;
  /** True with --json: the result is one JSON value on stdout. */
  readonly json: boolean;
  /** A summary line for people, on stderr; nothing with --quiet or --json (the JSON says it). */
  info(line: string): void;
  /** The result: `value` as JSON with --json, else `text` (when the command has one) on stdout. */
  result(value: unknown, text?: string): void;
}

/** Discards what is written; it is no terminal, so no progress is drawn on it. */
function sink(): NodeJS.WritableStream {
  return new Writable({
    write(_chunk, _encoding, done) {
      done();
    },
  });
}

/** The reporter the flags ask for. */
export function createReporter(flags: ReportFlags, context: CommandContext): Reporter {
  const quiet = flags.quiet === true;
  const json = flags.json === true;
  return {
    context: quiet ? { ...context, stderr: sink() } : context,
    json,
    info: (line) => {
      // On a terminal the line may land where a progress line is drawn: clear that first.
      const clear = (context.stderr as { isTTY?: boolean }).isTTY ? '\r\x1b[K' : '';
      if (!quiet && !json) context.stderr.write(`${clear}${line}\n`);
    },
    result: (value, text) => {
      if (json) context.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
      else if (text !== undefined) context.stdout.write(text);
    },
  };
}

/** Refuses --json for a command whose stdout carries bytes (an image, a tar) this time. */
export function refuseJsonOnStdout(flags: ReportFlags, command: string): void {
  if (flags.json) throw new CliError(`${command}: --json prints on stdout, which the output goes to here; write the output to a file with -o`, 'USAGE');
}
