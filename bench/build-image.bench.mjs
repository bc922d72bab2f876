// buildImage: `strata build-image` of the ~1 GiB closure (copyToRoot is its root, whose one file
// refers to all 400 paths, so the new layer holds the whole closure) into an uncompressed archive,
// side by side with the single-pass floor `tar -cf - PATHS | openssl dgst -sha256` (every byte read
// once and hashed once) and with `tar -cf FILE PATHS` (read once, written once, as strata does).
// Wall time, best of 3, and strata's peak RSS. Then the same with a trivial runAsRoot (`true`), against
// a bare QEMU boot of the same kernel and initramfs (TCG, powering off at once) plus that floor.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchClosure } from './_closure.mjs';
import { buildInitramfs, defaultCacheDir, findVmComponents } from '../packages/vm/dist/index.js';
import { STRATA, STRATA_NODE_ARGS, timeShell } from './_lib.mjs';

export default async function bench({ log }) {
  const dir = mkdtempSync(join(tmpdir(), 'strata-bench-build-image-'));
  try {
    const { root, paths, bytes, list, graph } = await benchClosure(dir, log);
    const out = join(dir, 'image.tar');
    const strata = `${STRATA} build-image --name bench --tag 1 --copy-to-root ${root} --references-graph ${graph} --compressor none -o ${out} && rm ${out}`;
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
    const vm = await runAsRootRows({ log, args: [...STRATA_NODE_ARGS, 'build-image', '--name', 'bench', '--tag', '1', '--copy-to-root', root, '--references-graph', graph, '--compressor', 'none', '--run-as-root', 'true', '-o', out], out, floor: bestFloor });
    return [
      { name: `build-image ${paths.length} paths ${gib.toFixed(2)} GiB -o file (wall, best of 3)`, value: best.seconds, unit: 's', reference: bestFloor, ratio: best.seconds / bestFloor, note: 'reference: tar | openssl dgst -sha256' },
      { name: 'build-image vs tar -cf FILE of the same paths', value: best.seconds, unit: 's', reference: bestTar, ratio: best.seconds / bestTar, note: 'reference writes the bytes to disk too' },
      { name: 'build-image peak RSS', value: best.rssMiB, unit: 'MiB', note: 'goal < 150 MiB' },
      ...vm,
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Runs node with `args`, returning wall seconds and node's own peak RSS (VmHWM, polled from /proc:
 * GNU time's %M would report the largest descendant, here QEMU, whose memory is buildVMMemorySize).
 */
function timeNode(args) {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    let peakKiB = 0;
    child.stderr.on('data', (c) => {
      stderr += c;
    });
    const poll = setInterval(() => {
      try {
        const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
        if (hwm) peakKiB = Math.max(peakKiB, Number(hwm[1]));
      } catch {}
    }, 50);
    child.on('close', (code) => {
      clearInterval(poll);
      if (code !== 0) reject(new Error(`strata failed (${code}):\n${stderr}`));
      else resolve({ seconds: Number(process.hrtime.bigint() - start) / 1e9, rssMiB: peakKiB / 1024 });
    });
  });
}

/** build-image with `--run-as-root true`, best of 2, beside a bare TCG boot plus the floor. */
async function runAsRootRows({ log, args, out, floor }) {
  const components = await findVmComponents();
  // The initramfs strata's runAsRoot uses (same cache), so both boot the same guest.
  const initramfs = await buildInitramfs(components, { cacheDir: defaultCacheDir() });
  const bareBoot = `${components.qemu} -accel tcg -m 512 -nodefaults -display none -serial stdio -no-reboot -kernel ${components.kernel} -initrd ${initramfs} -append 'console=ttyS0 quiet panic=-1 strata.probe'`;
  let boot = Infinity;
  let best = { seconds: Infinity };
  for (let i = 0; i < 2; i++) {
    boot = Math.min(boot, (await timeShell(bareBoot)).seconds);
    const run = await timeNode(args);
    rmSync(out, { force: true });
    if (run.seconds < best.seconds) best = run;
    log(`runAsRoot run ${i + 1}: strata ${run.seconds.toFixed(2)} s (${run.rssMiB?.toFixed(0)} MiB), bare boot ${boot.toFixed(2)} s`);
  }
  const reference = boot + floor;
  return [
    { name: 'build-image --run-as-root true, same closure (wall, best of 2)', value: best.seconds, unit: 's', reference, ratio: best.seconds / reference, note: 'reference: bare QEMU boot (TCG) + tar | openssl dgst' },
    { name: 'build-image --run-as-root peak RSS (strata, not QEMU)', value: best.rssMiB, unit: 'MiB', note: 'goal < 150 MiB; QEMU itself takes buildVMMemorySize' },
  ];
}
