import { mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, isAbsolute, join, resolve } from 'node:path';
import { type Accel, chooseAccel } from './accel.js';
import { type RootChange, diffTrees } from './changes.js';
import { type FindVmComponentsOptions, findVmComponents } from './components.js';
import { VmBootError, VmOptionError, VmTimeoutError } from './errors.js';
import { buildInitramfs, defaultCacheDir } from './initramfs.js';
import { type BootSpec, runQemu, type Share } from './_qemu.js';
import { copyToMappedForm, readMappedTree, restoreSymlinks } from './_tree.js';

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
  /** Scratch space in MiB: the size of the guest's tmpfs /tmp (nixpkgs' `diskSize`; 9p needs no disk image). @default 1024 */
  readonly diskSize?: number;
  /** Kill the VM after this many milliseconds. @default 600000 */
  readonly timeoutMs?: number;
  /** Kills the VM and rejects with the signal's reason. @default undefined (no cancellation) */
  readonly signal?: AbortSignal;
  /** KVM, TCG, or KVM when a probe boot shows it works. @default $STRATA_VM_ACCEL, else 'auto' */
  readonly accel?: Accel | 'auto';
  /** Kernel, modules, busybox and QEMU to use. @default found on the host, see findVmComponents */
  readonly components?: FindVmComponentsOptions;
  /** Cache of initramfs images and the KVM verdict. @default defaultCacheDir() */
  readonly cacheDir?: string;
  /** Where the run's working copy and control files are made (and removed). @default os.tmpdir() */
  readonly tmpDir?: string;
  /**
   * Keep the changed root here (a new directory; its parent must exist) so the changes can become a
   * layer: files as the script left them, symlinks as symlinks, device nodes as empty placeholder
   * files (type, numbers, owners and modes are in `changes`). Removed again if the run fails.
   * @default undefined (the working copy is removed)
   */
  readonly outputDir?: string;
  /** Present the root's paths with their host owners instead of as root-owned. @default false */
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
  /** What the script changed in the root, sorted by path. */
  readonly changes: RootChange[];
  /** The accelerator the VM ran with. */
  readonly accel: Accel;
  /** Milliseconds spent copying the root, booting and running, and listing changes. */
  readonly timings: { readonly copyMs: number; readonly vmMs: number; readonly diffMs: number };
}

/**
 * Runs `script` as root inside a QEMU VM, chrooted into a copy of `root` (the caller's directory is
 * never modified), with /proc, /sys, /dev and a tmpfs /tmp, and reports its output and the changes
 * it made to the root. Paths of `root` are seen in the guest as owned by root (0:0) with their host
 * modes. `script` is text (written as UTF-8) or bytes (written as they are). The script runs with
 * its `#!` interpreter when the root (or a mount) has it, else with the root's /bin/sh, else with
 * busybox sh; busybox applets are on PATH after the root's own directories.
 * @example
 * const r = await runAsRoot('/tmp/rootfs', 'echo hi; chown 1000:1000 /home/u', {
 *   mounts: [{ host: '/nix/store', guest: '/nix/store' }],
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
  // An outputDir is built next to its final place and renamed into it at the end, so it appears whole.
  const rootCopy = options.outputDir ? `${resolve(options.outputDir)}.${basename(work)}` : join(work, 'root');
  const ctl = join(work, 'ctl');
  let kept = false;
  try {
    const started = Date.now();
    await copyToMappedForm(resolve(root), rootCopy, join(work, 'xattrs.dump'), options);
    const before = await readMappedTree(rootCopy);
    await writeControl(ctl, script, settings);
    const copied = Date.now();
    const shares: Share[] = [
      { tag: 'strata-ctl', path: ctl, securityModel: 'none', readonly: false },
      { tag: 'strata-root', path: rootCopy, securityModel: 'mapped-xattr', readonly: false },
      ...settings.mounts.map((m, i) => ({ tag: `strata-m${i}`, path: resolve(m.host), securityModel: 'none' as const, readonly: true })),
    ];
    const spec = { qemu: components.qemu, accel, memoryMiB: settings.memory, kernel: components.kernel, initramfs, append: APPEND, shares };
    const console = await bootGuest(spec, settings.timeoutMs, options.signal);
    const booted = Date.now();
    const exitCode = await readStatus(ctl, console);
    const after = await readMappedTree(rootCopy);
    const changes = diffTrees(before, after);
    if (options.outputDir) await restoreSymlinks(rootCopy, after);
    const [stdout, stderr] = await Promise.all([readFile(join(ctl, 'stdout')), readFile(join(ctl, 'stderr'))]);
    if (options.outputDir) await rename(rootCopy, resolve(options.outputDir));
    kept = true;
    const timings = { copyMs: copied - started, vmMs: booted - copied, diffMs: Date.now() - booted };
    return { exitCode, stdout, stderr, changes, accel, timings };
  } finally {
    await rm(work, { recursive: true, force: true });
    if (options.outputDir && !kept) await rm(rootCopy, { recursive: true, force: true });
  }
}

// Kernel console on the serial port (kept only for error messages), quiet, and a panic powers off.
const APPEND = 'console=ttyS0 quiet loglevel=3 panic=-1';

/** Boots the guest and returns its console; a timeout or abort has already killed QEMU when this throws. */
async function bootGuest(spec: BootSpec, timeoutMs: number, signal: AbortSignal | undefined): Promise<string> {
  const outcome = await runQemu(spec, timeoutMs, signal);
  if (outcome.ended === 'abort') throw signal?.reason ?? new DOMException('aborted', 'AbortError');
  if (outcome.ended === 'timeout') throw new VmTimeoutError(`vm: script did not finish within ${timeoutMs} ms; the VM was killed`);
  return outcome.console;
}

interface Settings {
  readonly mounts: readonly VmMount[];
  readonly memory: number;
  readonly disk: number;
  readonly timeoutMs: number;
  readonly accel: Accel | 'auto';
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
  };
}

async function writeControl(ctl: string, script: string | Uint8Array, settings: Settings): Promise<void> {
  await mkdir(ctl);
  await writeFile(join(ctl, 'script'), script);
  await writeFile(join(ctl, 'tmp-mib'), `${settings.disk}\n`);
  await writeFile(join(ctl, 'mounts'), settings.mounts.map((m, i) => `strata-m${i} ${m.guest}\n`).join(''));
}

async function readStatus(ctl: string, console: string): Promise<number> {
  const error = await readFile(join(ctl, 'error'), 'utf8').catch(() => undefined);
  if (error !== undefined) throw new VmBootError(`vm: guest setup failed: ${error.trim()}`, console);
  const status = await readFile(join(ctl, 'status'), 'utf8').catch(() => undefined);
  if (status === undefined || !(await stat(join(ctl, 'done')).catch(() => undefined))) {
    throw new VmBootError(`vm: the VM stopped before the script finished; console:\n${console.slice(-2000)}`, console);
  }
  return Number.parseInt(status, 10);
}
