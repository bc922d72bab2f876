#!/usr/bin/env -S node --max-semi-space-size=1
// A young generation of 1 MiB semi-spaces instead of V8's 16: strata's garbage is short-lived
// (headers, chunks of bookkeeping), and the default let the new space grow to 32 MiB, about a third
// of the peak RSS of a streamed image, without making anything faster. A smaller young generation
// is collected sooner, and with it the network chunks its objects keep alive: a pull peaks about
// 10 MiB lower with 1 MiB than with 2, as fast (pushes and stream-layered unchanged). Whatever
// starts strata another way passes the same flags (scripts/install-bin.sh's wrapper, nix/builder.mjs).
import { availableParallelism } from 'node:os';

// Installed first, for the whole life of the process, so a signal never finds strata without a
// handler (the default action would kill it, halfway through removing its partial files). While
// strata loads, nothing exists yet: exit. While a command runs, main() turns signals into an abort
// and cleans up. Once the outcome is known, a signal only hastens the exit, with that outcome.
let state: 'loading' | 'running' | number = 'loading';
const onSignal = () => {
  if (state === 'loading') {
    process.stderr.write('strata: interrupted\n');
    process.exit(130);
  }
  if (typeof state === 'number') process.exit(state);
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
// A reader that stops early (`strata --help | head`) closes the pipe. Text written straight to
// stdout then ends strata quietly with 141, the status of a process SIGPIPE ends, as GNU tools do.
// Any other failed write (`> /dev/full`) ends it with 1 and one line, not a stack trace.
// Commands that stream an image to stdout listen for the error themselves, abort and clean up.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (process.stdout.listenerCount('error') > 1) return;
  if (error.code === 'EPIPE') process.exit(141);
  process.stderr.write(`strata: ${error.message}\n`);
  process.exit(1);
});
// libuv's thread pool runs file reads, gzip and zstd blocks; its default of 4 threads would leave
// cores idle on a larger machine. It is sized before anything uses it (main.js is loaded below).
process.env.UV_THREADPOOL_SIZE ??= String(Math.max(4, availableParallelism() + 2));
const { main } = await import('./main.js');
state = 'running';
state = await main(process.argv.slice(2));
process.exitCode = state;
