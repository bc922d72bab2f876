import { mkdir, mkdtemp, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, isAbsolute, join, resolve } from 'node:path';
import { type Accel, chooseAccel } from './accel.js';
import { diffOverlay, type RootChange } from './changes.js';
import { type FindVmComponentsOptions, findVmComponents } from './components.js';
import { type ScriptOutput, VmOptionError, VmTimeoutError } from './errors.js';
import { buildInitramfs, defaultCacheDir } from './initramfs.js';
import { makeScratchDisk } from './_disk.js';
import { checkDiskRoom, keepOnlyChanges, readOpaque, readScriptOutput, readStatus, sameBytes } from './_output.js';
import { checkOwnership, type OwnershipMap, type PathOwnership } from './ownership.js';
import { type BootSpec, runQemu, type Share } from './_qemu.js';
import { copyToMappedForm, readMappedTree, type TreeEntry } from './_tree.js';

/** A host directory mounted read-only in the guest (e.g. the host's /nix/store at /nix/store). */
export interface VmMount {
  /** Host directory. */
  readonly host: string;
  /** Absolute path inside the root where it appears; no whitespace. */
  readonly guest: string;
}

/** Options for {@link runAsRoot}. */
export interface RunAsRootOptions {
  /** Read-only host directories to mount inside the root. @default [] */
  readonly mounts?: readonly VmMount[];
  /** Guest memory in MiB (nixpkgs' `buildVMMemorySize`). @default 512 */
  readonly buildVMMemorySize?: number;
  /**
   * Bound in MiB on what the script may write (nixpkgs' `diskSize`): its changes to the root and its
   * /tmp live on a scratch disk of this size, so the host never holds more for them. A script that
   * fills it fails with {@link VmDiskFullError}. The disk is a sparse file in `tmpDir`, which must
   * have this much free space. @default 1024
   */
  readonly diskSize?: number;
  /** Kill the VM after this many milliseconds. @default 600000 */
  readonly timeoutMs?: number;
  /** Kills the VM and rejects with the signal's reason. @default undefined (no cancellation) */
  readonly signal?: AbortSignal;
  /** KVM, TCG, or KVM when a probe boot shows it works. @default $STRATA_VM_ACCEL, else 'auto' */
  readonly accel?: Accel | 'auto';
  /** Kernel, modules, busybox, QEMU and mke2fs to use. @default found on the host, see findVmComponents */
  readonly components?: FindVmComponentsOptions;
  /** Cache of initramfs images and the KVM verdict. @default defaultCacheDir() */
  readonly cacheDir?: string;
  /** Where the run's working copy, scratch disk and control files are made (and removed). @default os.tmpdir() */
  readonly tmpDir?: string;
  /**
   * Keep what the script changed here (a new directory; its parent must exist), as a layer's content:
   * every added or modified path of `changes` (files with their new bytes, symlinks as symlinks,
   * device nodes and fifos as empty placeholder files) and the directories holding them; nothing
   * for deleted paths. Owners, modes and device numbers are in `changes`. Removed again if the run fails.
   * @default undefined (nothing is kept)
   */
  readonly outputDir?: string;
  /**
   * The image's owners, modes and device nodes for paths of `root`, keyed by image path
   * (`/etc/shadow`): what an unprivileged unpack could not set on disk. Paths not in it are seen as
   * owned by root (0:0) with their host modes. Every key must exist in the root, except a device
   * entry, which is made when the root has nothing there. @default none
   */
  readonly ownership?: OwnershipMap;
  /** Present the root's paths with their host owners instead of as root-owned (the ownership map still wins). @default false */
  readonly preserveOwnership?: boolean;
}

/** What a script run left behind. */
export interface RunAsRootResult {
  /** The script's exit status. */
  readonly exitCode: number;
  /** The script's standard output, byte for byte. */
  readonly stdout: Buffer;
  /** The script's standard error, byte for byte. */
  readonly stderr: Buffer;
  /** What the script changed in the root, sorted by path (see {@link RootChange}). */
  readonly changes: RootChange[];
  /** The accelerator the VM ran with. */
  readonly accel: Accel;
  /** Milliseconds spent copying the root (and making the disk), booting and running, and listing changes. */
  readonly timings: { readonly copyMs: number; readonly vmMs: number; readonly diffMs: number };
}

/**
 * Runs `script` as root inside a QEMU VM, chrooted into `root` (the caller's directory is never
 * modified: a copy is the read-only lower layer of an overlay whose upper layer, on a scratch disk
 * of `diskSize` MiB, takes the script's writes), with /proc, /sys, /dev and /tmp, and reports its
 * output and the changes it made to the root. Paths of `root` are seen in the guest as owned by
 * root (0:0) with their host modes, or as `ownership` says. `script` is text (written as UTF-8) or
 * bytes (written as they are). The script runs with its `#!` interpreter when the root (or a mount)
 * has it, else with the root's /bin/sh, else with busybox sh; busybox applets are on PATH after the
 * root's own directories.
 * @example
 * const r = await runAsRoot('/tmp/rootfs', 'echo hi; chown 1000:1000 /home/u', {
 *   mounts: [{ host: '/nix/store', guest: '/nix/store' }],
 *   ownership: new Map([['/home/u', { uid: 1000, gid: 1000, mode: 0o700 }]]),
 * });
 * r.stdout.toString(); // 'hi\n'
 */
export async function runAsRoot(root: string, script: string | Uint8Array, options: RunAsRootOptions = {}): Promise<RunAsRootResult> {
  const settings = await validate(root, options);
  const components = await findVmComponents(options.components);
  const cacheDir = options.cacheDir ?? defaultCacheDir();
  const initramfs = await buildInitramfs(components, { cacheDir });
  const accel = await chooseAccel(settings.accel, components, initramfs, { cacheDir, signal: options.signal });
  const work = await mkdtemp(join(options.tmpDir ?? tmpdir(), 'strata-vm-'));
  const lowerDir = join(work, 'root');
  const ctl = join(work, 'ctl');
  const disk = join(work, 'disk.img');
  // An outputDir is built next to its final place and renamed into it at the end, so it appears whole.
  const out = options.outputDir ? `${resolve(options.outputDir)}.${basename(work)}` : join(work, 'out');
  let kept = false;
  try {
    const started = Date.now();
    const copy = { preserveOwnership: options.preserveOwnership, ownership: settings.ownership, signal: options.signal };
    // The disk first: it fails fast when tmpDir lacks the room, before a long copy.
    await makeScratchDisk(disk, settings.disk, components.mke2fs);
    const lower = await copyToMappedForm(resolve(root), lowerDir, join(work, 'xattrs.dump'), copy);
    await writeControl(ctl, script, settings);
    await mkdir(out);
    const copied = Date.now();
    const shares: Share[] = [
      { tag: 'strata-ctl', path: ctl, securityModel: 'none', readonly: false },
      { tag: 'strata-root', path: lowerDir, securityModel: 'mapped-xattr', readonly: true },
      { tag: 'strata-out', path: out, securityModel: 'mapped-xattr', readonly: false },
      ...settings.mounts.map((m, i) => ({ tag: `strata-m${i}`, path: resolve(m.host), securityModel: 'none' as const, readonly: true })),
    ];
    const spec = { qemu: components.qemu, accel, memoryMiB: settings.memory, kernel: components.kernel, initramfs, append: APPEND, shares, disk };
    const console = await bootGuest(spec, settings.timeoutMs, options.signal, ctl);
    const booted = Date.now();
    const { exitCode, output, changes } = await collectChanges({ ctl, out, lowerDir, lower, console, diskSize: settings.disk });
    if (options.outputDir) await rename(out, resolve(options.outputDir));
    kept = true;
    const timings = { copyMs: copied - started, vmMs: booted - copied, diffMs: Date.now() - booted };
    return { exitCode, ...output, changes, accel, timings };
  } finally {
    await rm(work, { recursive: true, force: true });
    if (options.outputDir && !kept) await rm(out, { recursive: true, force: true });
  }
}

interface RunPaths {
  /** The control share: the script, its output and status, the guest's findings. */
  readonly ctl: string;
  /** The output share the guest copied the upper layer to. */
  readonly out: string;
  /** The root's copy, the overlay's lower layer. */
  readonly lowerDir: string;
  /** The root as the guest saw it before the script. */
  readonly lower: ReadonlyMap<string, TreeEntry>;
  readonly console: string;
  readonly diskSize: number;
}

/**
 * After the guest powered off: the script's status and output, a full disk refused, and the changes
 * from the copied-out upper layer, which is left holding exactly those (the layer's content).
 */
async function collectChanges(run: RunPaths): Promise<{ exitCode: number; output: ScriptOutput; changes: RootChange[] }> {
  const exitCode = await readStatus(run.ctl, run.console);
  const output = await readScriptOutput(run.ctl);
  await checkDiskRoom(run.ctl, run.diskSize, exitCode, output);
  const upper = await readMappedTree(run.out);
  const view = { lower: run.lower, upper, opaque: await readOpaque(run.ctl) };
  const changes = await diffOverlay(view, (path) => sameBytes(join(run.lowerDir, path), join(run.out, path)));
  await keepOnlyChanges(run.out, upper, changes);
  return { exitCode, output, changes };
}

// Kernel console on the serial port (kept only for error messages), quiet, and a panic powers off.
const APPEND = 'console=ttyS0 quiet loglevel=3 panic=-1';

/** Boots the guest and returns its console; a timeout or abort has already killed QEMU when this throws. */
async function bootGuest(spec: BootSpec, timeoutMs: number, signal: AbortSignal | undefined, ctl: string): Promise<string> {
  const outcome = await runQemu(spec, timeoutMs, signal);
  if (outcome.ended === 'abort') throw signal?.reason ?? new DOMException('aborted', 'AbortError');
  if (outcome.ended === 'timeout') {
    // The guest writes the script's output straight through to the control share: show what it got to.
    const output = await readScriptOutput(ctl);
    const so = `${output.stdout.length} bytes on stdout, ${output.stderr.length} on stderr`;
    throw new VmTimeoutError(`vm: script did not finish within ${timeoutMs} ms; the VM was killed (its output so far: ${so})`, output);
  }
  return outcome.console;
}

interface Settings {
  readonly mounts: readonly VmMount[];
  readonly memory: number;
  readonly disk: number;
  readonly timeoutMs: number;
  readonly accel: Accel | 'auto';
  readonly ownership: ReadonlyMap<string, PathOwnership>;
}

async function validate(root: string, options: RunAsRootOptions): Promise<Settings> {
  options.signal?.throwIfAborted();
  if (typeof root !== 'string' || !(await stat(root).catch(() => undefined))?.isDirectory()) {
    throw new VmOptionError(`vm: root ${JSON.stringify(root)} is not a directory`);
  }
  if (options.outputDir && (await stat(options.outputDir).catch(() => undefined))) {
    throw new VmOptionError(`vm: outputDir ${options.outputDir} already exists`);
  }
  const positive = (name: string, value: number | undefined, fallback: number) => {
    const v = value ?? fallback;
    if (!Number.isInteger(v) || v <= 0) throw new VmOptionError(`vm: ${name} must be a positive integer, got ${value}`);
    return v;
  };
  const mounts = options.mounts ?? [];
  for (const [i, m] of mounts.entries()) {
    if (!isAbsolute(m.guest) || /\s/.test(m.guest) || m.guest.split('/').includes('..') || m.guest === '/') {
      throw new VmOptionError(`vm: mounts[${i}].guest must be an absolute path below / without whitespace or '..', got ${JSON.stringify(m.guest)}`);
    }
  }
  const accel = options.accel ?? (process.env.STRATA_VM_ACCEL as Accel | 'auto' | undefined) ?? 'auto';
  if (!['auto', 'kvm', 'tcg'].includes(accel)) throw new VmOptionError(`vm: accel must be auto, kvm or tcg, got ${JSON.stringify(accel)}`);
  return {
    mounts,
    memory: positive('buildVMMemorySize', options.buildVMMemorySize, 512),
    disk: positive('diskSize', options.diskSize, 1024),
    timeoutMs: positive('timeoutMs', options.timeoutMs, 600_000),
    accel,
    ownership: checkOwnership(options.ownership),
  };
}

async function writeControl(ctl: string, script: string | Uint8Array, settings: Settings): Promise<void> {
  await mkdir(ctl);
  await mkdir(join(ctl, 'opaque'));
  await writeFile(join(ctl, 'script'), script);
  await writeFile(join(ctl, 'mounts'), settings.mounts.map((m, i) => `strata-m${i} ${m.guest}\n`).join(''));
}
