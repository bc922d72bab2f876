/** What every command gets from the program: the cancellation signal and the streams it writes to. */
export interface CommandContext {
  readonly signal: AbortSignal;
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
}
