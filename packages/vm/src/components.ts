import { accessSync, constants } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { VmMissingComponentError } from './errors.js';

/** The host files a VM boot needs. */
export interface VmComponents {
  /** The kernel image (`/boot/vmlinuz-<version>`). */
  readonly kernel: string;
  /** The kernel's module directory (`/lib/modules/<version>`), holding `modules.dep`. */
  readonly modules: string;
  /** A statically linked busybox. */
  readonly busybox: string;
  /** The QEMU system emulator. */
  readonly qemu: string;
  /** e2fsprogs' mke2fs, which formats the VM's scratch disk on the host (no privileges needed for a file). */
  readonly mke2fs: string;
}

/** Options for {@link findVmComponents}; each falls back to its environment variable, then to the host. */
export interface FindVmComponentsOptions {
  /** Kernel image. @default $STRATA_VM_KERNEL, else the newest /boot/vmlinuz-* with a /lib/modules dir */
  readonly kernel?: string;
  /** Module directory of that kernel. @default $STRATA_VM_MODULES, else /lib/modules/<kernel version> */
  readonly modules?: string;
  /** Static busybox. @default $STRATA_VM_BUSYBOX, else `busybox` on PATH */
  readonly busybox?: string;
  /** QEMU binary. @default $STRATA_VM_QEMU, else `qemu-system-x86_64` on PATH */
  readonly qemu?: string;
  /** mke2fs binary. @default $STRATA_VM_MKE2FS, else `mke2fs` on PATH, /usr/sbin or /sbin */
  readonly mke2fs?: string;
  /** Where kernels are looked for. @default '/boot' */
  readonly bootDir?: string;
  /** Where module directories are looked for. @default '/lib/modules' */
  readonly modulesRoot?: string;
}

/**
 * Finds the kernel, its modules, a static busybox and QEMU: an option wins, then an environment
 * variable, then the host. A missing piece throws {@link VmMissingComponentError} naming what to install.
 */
export async function findVmComponents(options: FindVmComponentsOptions = {}): Promise<VmComponents> {
  const env = process.env;
  const kernel = options.kernel ?? env.STRATA_VM_KERNEL ?? (await findKernel(options));
  await mustExist(kernel, 'kernel', 'linux-image-amd64 (or set STRATA_VM_KERNEL)');
  const version = kernelVersion(kernel);
  const modulesRoot = options.modulesRoot ?? '/lib/modules';
  const modules = options.modules ?? env.STRATA_VM_MODULES ?? join(modulesRoot, version ?? '');
  await mustExist(join(modules, 'modules.dep'), 'kernel modules', `the modules of ${kernel} (or set STRATA_VM_MODULES)`);
  const busybox = options.busybox ?? env.STRATA_VM_BUSYBOX ?? onPath('busybox');
  if (!busybox) throw new VmMissingComponentError('vm: busybox not found on PATH; install busybox-static (or set STRATA_VM_BUSYBOX)');
  await mustBeStatic(busybox);
  const qemu = options.qemu ?? env.STRATA_VM_QEMU ?? onPath('qemu-system-x86_64');
  if (!qemu) throw new VmMissingComponentError('vm: qemu-system-x86_64 not found on PATH; install qemu-system-x86 (or set STRATA_VM_QEMU)');
  // sbin is often missing from a non-root user's PATH, and mke2fs works there without privileges.
  const mke2fs = options.mke2fs ?? env.STRATA_VM_MKE2FS ?? onPath('mke2fs', ['/usr/sbin', '/sbin']);
  if (!mke2fs) throw new VmMissingComponentError('vm: mke2fs not found on PATH, /usr/sbin or /sbin; install e2fsprogs (or set STRATA_VM_MKE2FS)');
  return { kernel, modules, busybox, qemu, mke2fs };
}

async function findKernel(options: FindVmComponentsOptions): Promise<string> {
  const bootDir = options.bootDir ?? '/boot';
  const modulesRoot = options.modulesRoot ?? '/lib/modules';
  const names = await readdir(bootDir).catch(() => [] as string[]);
  const candidates = names
    .filter((n) => n.startsWith('vmlinuz-'))
    .sort((a, b) => b.localeCompare(a, 'en', { numeric: true }));
  for (const name of candidates) {
    if (await exists(join(modulesRoot, name.slice('vmlinuz-'.length), 'modules.dep'))) return join(bootDir, name);
  }
  throw new VmMissingComponentError(
    `vm: no kernel with modules found (${bootDir}/vmlinuz-* with ${modulesRoot}/<version>); install linux-image-amd64 (or set STRATA_VM_KERNEL and STRATA_VM_MODULES)`,
  );
}

/** `vmlinuz-6.1.0-56-amd64` → `6.1.0-56-amd64`. */
function kernelVersion(kernel: string): string | undefined {
  const match = /vmlinuz-(.+)$/.exec(kernel);
  return match?.[1];
}

async function mustExist(path: string, what: string, install: string): Promise<void> {
  if (!(await exists(path))) throw new VmMissingComponentError(`vm: ${what} not found at ${path}; install ${install}`);
}

async function mustBeStatic(busybox: string): Promise<void> {
  const head = await readFile(busybox).catch(() => undefined);
  if (!head) throw new VmMissingComponentError(`vm: busybox ${busybox} is not readable; install busybox-static`);
  if (hasInterpreter(head)) {
    throw new VmMissingComponentError(`vm: busybox ${busybox} is dynamically linked; install busybox-static`);
  }
}

/** Finds an executable on PATH (then in `extraDirs`), or undefined. */
export function onPath(program: string, extraDirs: readonly string[] = []): string | undefined {
  for (const dir of [...(process.env.PATH ?? '').split(delimiter), ...extraDirs]) {
    if (!dir) continue;
    const candidate = join(dir, program);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {}
  }
  return undefined;
}

/** True when an ELF64 file has a PT_INTERP program header, i.e. it is dynamically linked. */
export function hasInterpreter(elf: Buffer): boolean {
  if (elf.length < 64 || elf.readUInt32BE(0) !== 0x7f454c46) return false;
  const phoff = Number(elf.readBigUInt64LE(0x20));
  const phentsize = elf.readUInt16LE(0x36);
  const phnum = elf.readUInt16LE(0x38);
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * phentsize;
    if (at + 4 <= elf.length && elf.readUInt32LE(at) === 3) return true;
  }
  return false;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
