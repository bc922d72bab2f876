// Shared measuring helpers for the benchmark files.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** strata's CLI, built. */
export const STRATA_BIN = new URL('../packages/cli/dist/bin.js', import.meta.url).pathname;

/**
 * The arguments of `node` that run strata as an installed `strata` does: the Node flags of bin.js's
 * #! line (which `node bin.js` alone would not apply), then bin.js.
 */
export const STRATA_NODE_ARGS = [...(/^#!.*?\bnode\b(.*)$/m.exec(readFileSync(STRATA_BIN, 'utf8').split('\n', 1)[0])?.[1].trim().split(/\s+/).filter(Boolean) ?? []), STRATA_BIN];

/** The shell command that runs strata (arguments follow). */
export const STRATA = [process.execPath, ...STRATA_NODE_ARGS].join(' ');

/** Runs a shell pipeline, returning wall seconds and the peak RSS (MiB) of the process named `rssOf`. */
export async function timeShell(script, { rssOf } = {}) {
  // GNU time's %M is the max RSS of the child it runs; wrap the measured command with it.
  const wrapped = rssOf ? script.replace(rssOf, `/usr/bin/time -f 'STRATA_RSS_KB=%M' ${rssOf}`) : script;
  const start = process.hrtime.bigint();
  const { code, stderr } = await new Promise((resolve) => {
    const child = spawn('bash', ['-o', 'pipefail', '-c', wrapped], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (c) => {
      err += c;
    });
    child.on('close', (c) => resolve({ code: c, stderr: err }));
  });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (code !== 0) throw new Error(`bench command failed (${code}): ${script}\n${stderr}`);
  const kb = /STRATA_RSS_KB=(\d+)/.exec(stderr);
  return { seconds, rssMiB: kb ? Number(kb[1]) / 1024 : undefined };
}

/** Best (minimum) of `n` runs of an async function, in seconds. */
export async function bestOf(n, fn) {
  let best = Infinity;
  for (let i = 0; i < n; i++) {
    const start = process.hrtime.bigint();
    await fn();
    best = Math.min(best, Number(process.hrtime.bigint() - start) / 1e9);
  }
  return best;
}

/** The median of a list of numbers. */
export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * Seconds from starting the shell command `script` until it writes its first byte into a real pipe
 * (`| head -c 1`, so the command sees a pipe, not a socket); the command then ends on EPIPE.
 */
export function timeFirstByte(script) {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn('bash', ['-c', `${script} 2>/dev/null | head -c 1`], { stdio: ['ignore', 'pipe', 'ignore'] });
    let seconds;
    child.stdout.once('data', () => {
      seconds = Number(process.hrtime.bigint() - start) / 1e9;
    });
    child.on('error', reject);
    child.on('close', () => (seconds === undefined ? reject(new Error(`${script} wrote nothing`)) : resolve(seconds)));
  });
}

/**
 * A TCP proxy to `target` (host:port) that lets each connection carry at most `bytesPerSecond`
 * from the server: a registry as a real network serves it, where one connection rarely has the
 * link to itself. Resolves once listening; `stop()` closes it and every connection.
 */
export async function startThrottle(target, bytesPerSecond) {
  const { createServer, connect } = await import('node:net');
  const [host, port] = [target.slice(0, target.lastIndexOf(':')), Number(target.slice(target.lastIndexOf(':') + 1))];
  const sockets = new Set();
  const server = createServer((client) => {
    const upstream = connect(port, host);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.once('close', () => sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    // A token bucket of a tenth of a second: data beyond it pauses the upstream until it is earned.
    let budget = 0;
    let last = Date.now();
    upstream.on('data', (chunk) => {
      const now = Date.now();
      budget = Math.min(bytesPerSecond / 10, budget + ((now - last) / 1000) * bytesPerSecond) - chunk.length;
      last = now;
      client.write(chunk);
      if (budget < 0) {
        upstream.pause();
        setTimeout(() => upstream.resume(), (-budget / bytesPerSecond) * 1000);
      }
    });
    upstream.once('end', () => client.end());
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    host: `127.0.0.1:${server.address().port}`,
    stop: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
