// @strata/vm: time from call to result of runAsRoot, each side by side with the floor it cannot beat.
// - a trivial script (TCG, and KVM where a probe boot shows it works) against a bare QEMU boot of the
//   same kernel and initramfs that powers off at once;
// - the ownership map (every path of a 10k-file root given an image owner and mode) against the
//   same run without it;
// - the disk bound: formatting the scratch disk (mke2fs of a sparse diskSize file) against the
//   trivial run, and a script writing 200 MiB (through the overlay onto the disk, then copied out)
//   against the host writing the same bytes twice;
// - roots of 100 MiB and 1 GiB with a trivial script, against the trivial run and, for the copy
//   into mapped-xattr form, against `cp -a` of the root.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildInitramfs, findVmComponents, probeKvm, runAsRoot } from '../packages/vm/dist/index.js';
import { bestOf, timeShell } from './_lib.mjs';

const MiB = 1 << 20;

export default async function bench({ log }) {
  const work = await mkdtemp(join(tmpdir(), 'strata-vm-bench-'));
  const cacheDir = join(work, 'cache');
  try {
    const components = await findVmComponents();
    const initramfs = await buildInitramfs(components, { cacheDir });
    const kvm = await probeKvm(components, initramfs, { cacheDir });
    const rows = [];
    const empty = join(work, 'empty');
    await mkdir(empty);
    const timed = async (root, script, options = {}) => {
      const start = process.hrtime.bigint();
      const result = await runAsRoot(root, script, { cacheDir, accel: 'tcg', tmpDir: work, ...options });
      return { seconds: Number(process.hrtime.bigint() - start) / 1e9, result };
    };

    log('trivial script under TCG');
    const tcg = await bestOf(2, () => runAsRoot(empty, 'echo hi', { cacheDir, accel: 'tcg', tmpDir: work }));
    const bareBoot = `${components.qemu} -accel tcg -m 512 -nodefaults -display none -serial stdio -no-reboot -kernel ${components.kernel} -initrd ${initramfs} -append 'console=ttyS0 quiet panic=-1 strata.probe'`;
    const boot = Math.min((await timeShell(bareBoot)).seconds, (await timeShell(bareBoot)).seconds);
    rows.push({ name: 'trivial script, TCG (call to result)', value: tcg, unit: 's', reference: boot, ratio: tcg / boot, note: 'reference: bare QEMU boot + poweroff, TCG (modules loaded, nothing mounted)' });
    if (kvm) {
      const k = await bestOf(2, () => runAsRoot(empty, 'echo hi', { cacheDir, accel: 'kvm', tmpDir: work }));
      rows.push({ name: 'trivial script, KVM (call to result)', value: k, unit: 's', reference: tcg, ratio: k / tcg, note: 'reference: the same under TCG' });
    } else {
      rows.push({ name: 'trivial script, KVM', value: 'n/a', unit: '', note: 'KVM does not work on this machine (probe boot failed); TCG used' });
    }

    log('ownership map over a 10k-file root');
    const many = join(work, 'many');
    const ownership = await makeManyFiles(many, 10_000);
    // Alternated and best of two: the map costs only in the host copy, a small part of a noisy run.
    const best = (a, b) => (a && a.seconds < b.seconds ? a : b);
    let plain;
    let owned;
    for (let i = 0; i < 2; i++) {
      plain = best(plain, await timed(many, 'echo hi'));
      owned = best(owned, await timed(many, 'echo hi', { ownership }));
    }
    rows.push({
      name: 'trivial script, 10k-file root, ownership map of every path',
      value: owned.seconds,
      unit: 's',
      reference: plain.seconds,
      ratio: owned.seconds / plain.seconds,
      note: `reference: no map; copy ${owned.result.timings.copyMs} ms vs ${plain.result.timings.copyMs} ms`,
    });
    await rm(many, { recursive: true, force: true });

    log('the disk bound');
    const disk = join(work, 'disk.img');
    const mkfs = await timeShell(`truncate -s 1G ${disk} && ${components.mke2fs} -q -F -t ext4 -O ^has_journal -m 0 -E lazy_itable_init=1,nodiscard ${disk} && rm ${disk}`);
    rows.push({ name: 'format the 1 GiB scratch disk (mke2fs, sparse)', value: mkfs.seconds, unit: 's', reference: tcg, ratio: mkfs.seconds / tcg, note: 'reference: the trivial run, which includes it' });
    const writes = await timed(empty, 'mkdir /data && dd if=/dev/zero of=/data/blob bs=1M count=200 2>/dev/null', { diskSize: 512 });
    const hostWrites = await timeShell(`dd if=/dev/zero of=${work}/a bs=1M count=200 2>/dev/null && cp ${work}/a ${work}/b && rm ${work}/a ${work}/b`);
    rows.push({
      name: 'script writing 200 MiB, diskSize 512, TCG',
      value: writes.seconds,
      unit: 's',
      reference: tcg + hostWrites.seconds,
      ratio: writes.seconds / (tcg + hostWrites.seconds),
      note: 'reference: trivial run + the host writing 200 MiB and copying it',
    });

    for (const [label, files, size] of [
      ['100 MiB', 100, MiB],
      ['1 GiB', 256, 4 * MiB],
    ]) {
      log(`root of ${label}`);
      const root = join(work, `root-${files}`);
      await makeRoot(root, files, size);
      const { seconds: total, result } = await timed(root, 'echo hi > /etc/marker');
      const cp = await timeShell(`cp -a ${root} ${work}/cp-copy && rm -rf ${work}/cp-copy`);
      const t = result.timings;
      rows.push({ name: `root ${label} (${files + 100} files), TCG`, value: total, unit: 's', reference: tcg, ratio: total / tcg, note: `reference: empty root; copy+disk ${t.copyMs} ms, vm ${t.vmMs} ms, diff ${t.diffMs} ms` });
      rows.push({ name: `root ${label}: copy into mapped-xattr form`, value: t.copyMs / 1000, unit: 's', reference: cp.seconds, ratio: t.copyMs / 1000 / cp.seconds, note: 'reference: cp -a + rm -rf of the root' });
      await rm(root, { recursive: true, force: true });
    }
    return rows;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** A root with `files` big files of `size` bytes under /data and 100 small files under /etc. */
async function makeRoot(root, files, size) {
  await mkdir(join(root, 'data'), { recursive: true });
  await mkdir(join(root, 'etc'));
  const chunk = Buffer.alloc(size);
  for (let i = 0; i < files; i++) {
    chunk.writeUInt32LE(i, 0);
    await writeFile(join(root, 'data', `blob-${i}`), chunk);
  }
  for (let i = 0; i < 100; i++) await writeFile(join(root, 'etc', `conf-${i}`), `setting ${i}\n`);
}

/** A root of `count` small files in 100 directories, and an ownership map giving every path an image owner. */
async function makeManyFiles(root, count) {
  const ownership = new Map([['/', { uid: 0, gid: 0, mode: 0o755 }]]);
  for (let d = 0; d < 100; d++) {
    const dir = join(root, `d${d}`);
    await mkdir(dir, { recursive: true });
    ownership.set(`/d${d}`, { uid: 1000, gid: 1000, mode: 0o750 });
    for (let f = 0; f < count / 100; f++) {
      await writeFile(join(dir, `f${f}`), `${d}/${f}\n`);
      ownership.set(`/d${d}/f${f}`, { uid: 1000 + (f % 7), gid: 100, mode: f % 2 ? 0o4755 : 0o640 });
    }
  }
  return ownership;
}
