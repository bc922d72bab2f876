import { spawn } from 'node:child_process';

/** What a finished child process left behind. */
export interface ExecResult {
  readonly stdout: string;
  readonly stderr: string;
  readonly exitCode: number;
}

/** Options for {@link run}. */
export interface RunOptions {
  /** Bytes to write to the child's stdin. @default nothing (stdin closed) */
  readonly input?: string | Buffer;
  /** Working directory. @default process.cwd() */
  readonly cwd?: string;
  /** Extra environment variables merged over process.env. */
  readonly env?: Record<string, string | undefined>;
  /** Resolve with a non-zero exit code instead of rejecting. @default false */
  readonly allowFailure?: boolean;
  /** Kill the child after this many milliseconds. @default 600_000 */
  readonly timeoutMs?: number;
}

/** Runs a command to completion and returns its output; rejects on a non-zero exit unless allowed. */
export async function run(command: string, args: readonly string[], options: RunOptions = {}): Promise<ExecResult> {
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (c: Buffer) => out.push(c));
  child.stderr.on('data', (c: Buffer) => err.push(c));
  child.stdin.on('error', () => {});
  child.stdin.end(options.input ?? '');
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 600_000);
  const exitCode = await new Promise<number>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  }).finally(() => clearTimeout(timer));
  const result = { stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), exitCode };
  if (exitCode !== 0 && !options.allowFailure) {
    throw new Error(`${command} ${args.join(' ')} exited ${exitCode}\n${result.stderr}${result.stdout}`);
  }
  return result;
}
