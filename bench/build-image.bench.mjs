// buildImage: `strata build-image` of the ~1 GiB closure (copyToRoot is its root, whose one file
// refers to all 400 paths, so the new layer holds the whole closure) into an uncompressed archive,
// side by side with the single-pass floor `tar -cf - PATHS | openssl dgst -sha256` (every byte read
// once and hashed once) and with `tar -cf FILE PATHS` (read once, written once, as strata does).
// Wall time, best of 3, and strata's peak RSS.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchClosure } from './_closure.mjs';
import { timeShell } from './_lib.mjs';

export default async function bench({ log }) {
  const dir = mkdtempSync(join(tmpdir(), 'strata-bench-build-image-'));
  try {
    const { root, paths, bytes, list, graph } = await benchClosure(dir, log);
    const bin = new URL('../packages/cli/dist/bin.js', import.meta.url).pathname;
    const out = join(dir, 'image.tar');
    const strata = `${process.execPath} ${bin} build-image --name bench --tag 1 --copy-to-root ${root} --references-graph ${graph} --compressor none -o ${out} && rm ${out}`;
    const floor = `tar -cf - --files-from ${list} | openssl dgst -sha256 > /dev/null`;
    const tarFile = `tar -cf ${join(dir, 'floor.tar')} --files-from ${list} && rm ${join(dir, 'floor.tar')}`;
    await timeShell(floor); // warm the page cache
    let best = { seconds: Infinity };
    let bestFloor = Infinity;
    let bestTar = Infinity;
    for (let i = 0; i < 3; i++) {
      bestFloor = Math.min(bestFloor, (await timeShell(floor)).seconds);
      bestTar = Math.min(bestTar, (await timeShell(tarFile)).seconds);
      const run = await timeShell(strata, { rssOf: process.execPath });
      if (run.seconds < best.seconds) best = run;
      log(`run ${i + 1}: strata ${run.seconds.toFixed(2)} s (${run.rssMiB?.toFixed(0)} MiB), floor ${bestFloor.toFixed(2)} s, tar to a file ${bestTar.toFixed(2)} s`);
    }
    const gib = bytes / 2 ** 30;
    return [
      { name: `build-image ${paths.length} paths ${gib.toFixed(2)} GiB -o file (wall, best of 3)`, value: best.seconds, unit: 's', reference: bestFloor, ratio: best.seconds / bestFloor, note: 'reference: tar | openssl dgst -sha256' },
      { name: 'build-image vs tar -cf FILE of the same paths', value: best.seconds, unit: 's', reference: bestTar, ratio: best.seconds / bestTar, note: 'reference writes the bytes to disk too' },
      { name: 'build-image peak RSS', value: best.rssMiB, unit: 'MiB', note: 'goal < 150 MiB' },
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
