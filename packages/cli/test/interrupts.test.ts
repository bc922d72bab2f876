import { spawn } from 'node:child_process';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { hasPeers, makeTempDir, repoRoot, run, type TempDir } from '@strata/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// Ctrl-C pressed again while strata cleans up (or a SIGTERM after a SIGINT) used to kill it in the
// middle of its cleanup, leaving `.partial` outputs and strata-customisation-* work directories.

describe.runIf(hasPeers('fakeroot'))('strata interrupted again and again', () => {
  let dir: TempDir;
  let store: string;
  const path = '/nix/store/44444444444444444444444444444444-interrupted';
  beforeAll(async () => {
    dir = await makeTempDir('strata-cli-interrupts-');
    store = join(dir.path, 'store');
    await mkdir(join(store, path), { recursive: true });
    // Enough to pack for a while (sparse: no disk), and many files for the customisation layer.
    await run('truncate', ['-s', '256M', join(store, path, 'zeros')]);
    for (let i = 0; i < 200; i++) await writeFile(join(store, path, `file-${i}`), `${i}\n`);
  });
  afterAll(() => dir.remove());

  interface Outcome {
    readonly code: number | null;
    readonly stderr: string;
  }

  /** Runs a build, then signals it at `delay` ms and every few ms after, until it exits. */
  async function interrupt(out: string, tmp: string, delay: number, signals: readonly NodeJS.Signals[]): Promise<Outcome> {
    const bin = join(repoRoot(), 'packages/cli/dist/bin.js');
    const args = [bin, 'build-layered', '--name', 'i', '--contents', path, '--store-root', store, '--closure-source', 'scan'];
    args.push('--extra-commands', 'cp -r . ../copy; rm -rf ../copy', '--fake-root-commands', 'chown -R 1:1 .', '--compressor', 'none', '-o', out);
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, TMPDIR: tmp } });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
    let sent = 0;
    let timer: NodeJS.Timeout | undefined;
    const fire = () => {
      child.kill(signals[sent++ % signals.length]);
      timer = setTimeout(fire, 2 + (sent % 7) * 3);
    };
    timer = setTimeout(fire, delay);
    const code = await closed;
    clearTimeout(timer);
    return { code, stderr };
  }

  it('leaves no partial output and no working directory, however often it is signalled', async () => {
    const tries = 24;
    const leftovers: string[] = [];
    let interrupted = 0;
    for (let i = 0; i < tries; i++) {
      const outDir = join(dir.path, `out-${i}`);
      const tmp = join(dir.path, `tmp-${i}`);
      await mkdir(outDir);
      await mkdir(tmp);
      // Moments spread over the whole build (~4 s): scanning, the scripts, packing, renaming.
      const delay = (i * 173) % 4000;
      const signals: NodeJS.Signals[] = i % 2 === 0 ? ['SIGINT'] : ['SIGINT', 'SIGTERM'];
      const { code, stderr } = await interrupt(join(outDir, 'image.tar'), tmp, delay, signals);
      // Exit 130 once cleaned up, or 0 when it finished first; a signal that lands while Node is
      // starting, or exiting with its outcome decided, kills it (a shell reports 130 all the same).
      if (![0, 130, null].includes(code) || !['', 'strata: interrupted\n'].includes(stderr)) leftovers.push(`try ${i} (delay ${delay} ms): exit ${code}: ${stderr}`);
      if (stderr !== '') interrupted++;
      const left = [...(await readdir(outDir)).filter((f) => f !== 'image.tar'), ...(await readdir(tmp))];
      leftovers.push(...left.map((f) => `try ${i} (delay ${delay} ms): ${f}`));
      await rm(outDir, { recursive: true, force: true });
      await rm(tmp, { recursive: true, force: true });
    }
    expect(leftovers).toEqual([]);
    expect(interrupted).toBeGreaterThan(tries / 2);
  }, 240_000);
});
