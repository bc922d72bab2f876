// TarStream.writeToFd reuses one ring buffer for every byte: these tests would catch a region
// overwritten while a write or the hash still needed it, with a real pipe and a reader slower than
// the producer, against the pinned bytes and against a fresh read of the same plan as a stream.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { makeTempDir, run, type TempDir } from '@strata/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LayerError, type LayerPlan, packLayer, prepareWriteToFd, scanLayer, type TarStream, writeTar } from '../src/index.js';
import { makePinStore, PIN_DIGEST, PIN_PATH } from './_pin-store.js';

let tmp: TempDir;
let plan: LayerPlan;

beforeAll(async () => {
  tmp = await makeTempDir('strata-fd-');
  await makePinStore(join(tmp.path, 'store'));
  plan = await scanLayer([PIN_PATH], { storeRoot: join(tmp.path, 'store'), mtime: 1 });
});
afterAll(() => tmp.remove());

const sha256 = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/** Writes `archive` into a new file and returns the file's bytes. */
async function viaFile(archive: TarStream, name: string): Promise<Buffer> {
  const file = join(tmp.path, name);
  const fd = openSync(file, 'wx');
  try {
    await archive.writeToFd(fd);
  } finally {
    closeSync(fd);
  }
  return readFile(file);
}

// Reads a FIFO in 64 KiB reads, pausing every 16 of them, and copies what it read to a file; or,
// given a limit, reads that much and exits, leaving the writer with a pipe nobody reads.
const SLOW_READER = `
import sys, time
limit = int(sys.argv[3])
with open(sys.argv[1], 'rb', buffering=0) as f, open(sys.argv[2], 'wb') as out:
    n = 0
    total = 0
    while limit == 0 or total < limit:
        b = f.read(65536)
        if not b:
            break
        out.write(b)
        total += len(b)
        n += 1
        if n % 16 == 0:
            time.sleep(0.003)
`;

/** Writes `archive` into a FIFO read by a slow python reader (stopping after `limit` bytes, if given). */
async function viaSlowPipe(archive: TarStream, name: string, limit = 0): Promise<{ bytes: Buffer; error: unknown }> {
  const fifo = join(tmp.path, `${name}.fifo`);
  const out = join(tmp.path, `${name}.out`);
  await run('mkfifo', [fifo]);
  const reader = spawn('python3', ['-c', SLOW_READER, fifo, out, String(limit)], { stdio: 'ignore' });
  const exited = new Promise<number | null>((resolve) => reader.once('close', resolve));
  // Opening a FIFO for writing waits for its reader, which the child is about to be.
  const fd = openSync(fifo, 'w');
  let error: unknown;
  try {
    await archive.writeToFd(fd);
  } catch (e) {
    error = e;
  } finally {
    closeSync(fd);
  }
  expect(await exited).toBe(0);
  return { bytes: await readFile(out), error };
}

describe('TarStream.writeToFd', () => {
  it('writes the pinned bytes into a file, with their digest', async () => {
    const layer = packLayer(plan);
    const bytes = await viaFile(layer, 'layer.tar');
    expect(bytes.length).toBe(plan.size);
    expect(sha256(bytes)).toBe(PIN_DIGEST);
    expect(await layer.digest).toBe(PIN_DIGEST);
  });

  it('hashes inline to the same digest when told not to use a thread', async () => {
    const layer = packLayer(plan, { hashThread: false });
    expect(sha256(await viaFile(layer, 'inline.tar'))).toBe(PIN_DIGEST);
    expect(await layer.digest).toBe(PIN_DIGEST);
  });

  it('loses nothing to a pipe whose reader is slower than the files are read', async () => {
    // Three layers in one outer archive, ~40 MiB through a 4 MiB ring: every region is reused
    // several times while writes to the slow pipe are still in flight.
    const layers = [packLayer(plan), packLayer(plan, { readSize: 100_000 }), packLayer(plan)];
    const entry = { type: 'file' as const, mode: 0o644, uid: 0, gid: 0, uname: '', gname: '', mtime: 1 };
    const outer = writeTar(
      layers.map((layer, i) => ({ ...entry, name: `layers/${i}.tar`, size: layer.size, body: () => layer })),
      { digest: false },
    );
    const { bytes, error } = await viaSlowPipe(outer, 'slow');
    expect(error).toBeUndefined();
    expect(bytes.length).toBe(outer.size);
    // The same archive read afresh as a stream, whose chunks are never reused.
    const fresh = await buffer(
      writeTar(
        [0, 1, 2].map((i) => ({ ...entry, name: `layers/${i}.tar`, size: plan.size, body: () => packLayer(plan) })),
        { digest: false },
      ),
    );
    expect(bytes.equals(fresh)).toBe(true);
    for (const layer of layers) expect(await layer.digest).toBe(PIN_DIGEST);
  });

  it('rejects with EPIPE when the reader goes away, and rejects the digest', async () => {
    const layer = packLayer(plan);
    const { bytes, error } = await viaSlowPipe(layer, 'gone', 1 << 20);
    expect(bytes.length).toBeGreaterThanOrEqual(1 << 20);
    expect((error as NodeJS.ErrnoException).code).toBe('EPIPE');
    await expect(layer.digest).rejects.toBeDefined();
  });

  it('stops with the abort reason when its signal aborts', async () => {
    const controller = new AbortController();
    const layer = packLayer(plan, { signal: controller.signal });
    const fd = openSync(join(tmp.path, 'aborted.tar'), 'wx');
    try {
      const writing = layer.writeToFd(fd, { onProgress: () => controller.abort(new Error('stop now')) });
      await expect(writing).rejects.toThrow('stop now');
    } finally {
      closeSync(fd);
    }
    await expect(layer.digest).rejects.toThrow('stop now');
  });

  it('stops with the abort reason when its signal aborts while a write waits on a full pipe', async () => {
    // The signal's abort and the failed producer's both wait for the write in flight to return;
    // each must be woken when it does, or writeToFd never settles (and a CLI exits 13 mid-cleanup).
    const fifo = join(tmp.path, 'stalled.fifo');
    await run('mkfifo', [fifo]);
    const reader = spawn('python3', ['-c', 'import sys, time\nf = open(sys.argv[1], "rb")\ntime.sleep(0.5)\nwhile f.read(65536): pass', fifo], { stdio: 'ignore' });
    const exited = new Promise<number | null>((resolve) => reader.once('close', resolve));
    const fd = openSync(fifo, 'w');
    const controller = new AbortController();
    const layer = packLayer(plan, { signal: controller.signal });
    const timer = setTimeout(() => controller.abort(new Error('stop now')), 100);
    try {
      await expect(layer.writeToFd(fd)).rejects.toThrow('stop now');
    } finally {
      clearTimeout(timer);
      closeSync(fd);
    }
    expect(await exited).toBe(0);
    await expect(layer.digest).rejects.toThrow('stop now');
  });

  it('uses the hash thread started ahead of time, which alone does not keep a process alive', async () => {
    prepareWriteToFd();
    const layer = packLayer(plan);
    expect(sha256(await viaFile(layer, 'prepared.tar'))).toBe(PIN_DIGEST);
    expect(await layer.digest).toBe(PIN_DIGEST);
    // A thread that kept the process alive would have it killed (and run reject) at the timeout.
    const dist = new URL('../dist/index.js', import.meta.url).pathname;
    const script = `(await import(${JSON.stringify(dist)})).prepareWriteToFd()`;
    const result = await run(process.execPath, ['--input-type=module', '-e', script], { timeoutMs: 60_000 });
    expect(result.exitCode).toBe(0);
  });

  it('fails naming the file when one is gone, and cannot be read twice', async () => {
    const dir = join(tmp.path, 'vanish');
    await makePinStore(dir);
    const vanishing = await scanLayer([PIN_PATH], { storeRoot: dir });
    await run('rm', [join(dir, PIN_PATH, 'lib/f9')]);
    const layer = packLayer(vanishing);
    const error = await viaFile(layer, 'vanish.tar').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LayerError);
    expect((error as LayerError).message).toContain(`${PIN_PATH}/lib/f9`);
    await expect(layer.writeToFd(1)).rejects.toThrow('already being read');
  });
});
