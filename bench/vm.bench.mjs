// @strata/vm: time from call to result of runAsRoot for a trivial script (TCG, and KVM where a probe
// boot shows it works), and how it grows with the root's size (100 MiB, 1 GiB). The reference for a
// trivial run is a bare QEMU boot of the same kernel and initramfs that powers off at once (the
// floor any VM runner pays); for the big roots it is `cp -a` of the root (the host copy cost).
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
    const trivial = async (accel) => bestOf(2, () => runAsRoot(empty, 'echo hi', { cacheDir, accel, tmpDir: work }));
    const bareBoot = `${components.qemu} -accel tcg -m 512 -nodefaults -display none -serial stdio -no-reboot -kernel ${components.kernel} -initrd ${initramfs} -append 'console=ttyS0 quiet panic=-1 strata.probe'`;
    log('trivial script under TCG');
    const tcg = await trivial('tcg');
    const boot = Math.min((await timeShell(bareBoot)).seconds, (await timeShell(bareBoot)).seconds);
    rows.push({ name: 'trivial script, TCG (call to result)', value: tcg, unit: 's', reference: boot, ratio: tcg / boot, note: 'reference: bare QEMU boot + poweroff, TCG; goal < 8 s' });
    if (kvm) {
      const k = await trivial('kvm');
      rows.push({ name: 'trivial script, KVM (call to result)', value: k, unit: 's', reference: tcg, ratio: k / tcg, note: 'reference: the same under TCG' });
    } else {
      rows.push({ name: 'trivial script, KVM', value: 'n/a', unit: '', note: 'KVM does not work on this machine (probe boot failed); TCG used' });
    }
    for (const [label, files, size] of [['100 MiB', 100, MiB], ['1 GiB', 256, 4 * MiB]]) {
      log(`root of ${label}`);
      const root = join(work, `root-${files}`);
      await makeRoot(root, files, size);
      const start = process.hrtime.bigint();
      const result = await runAsRoot(root, 'echo hi > /etc/marker', { cacheDir, accel: 'tcg', tmpDir: work });
      const total = Number(process.hrtime.bigint() - start) / 1e9;
      const cp = await timeShell(`cp -a ${root} ${work}/cp-copy && rm -rf ${work}/cp-copy`);
      const t = result.timings;
      rows.push({ name: `root ${label} (${files + 100} files), TCG`, value: total, unit: 's', reference: tcg, ratio: total / tcg, note: `reference: empty root; copy ${t.copyMs} ms, vm ${t.vmMs} ms, diff ${t.diffMs} ms` });
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
