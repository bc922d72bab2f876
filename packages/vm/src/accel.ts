import { createHash, randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { access, mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { release } from 'node:os';
import { join } from 'node:path';
import type { VmComponents } from './components.js';
import { VmKvmError } from './errors.js';
import { runQemu } from './_qemu.js';

/** The accelerator a VM ran with. */
export type Accel = 'kvm' | 'tcg';

/** Options for {@link chooseAccel} and {@link probeKvm}. */
export interface ProbeKvmOptions {
  /** How long a KVM boot may take before KVM is judged broken. @default 5000 */
  readonly timeoutMs?: number;
  /** Where the verdict is cached across processes; none when undefined. @default undefined */
  readonly cacheDir?: string;
  /** Cancels the probe. @default undefined (no cancellation) */
  readonly signal?: AbortSignal;
}

const verdicts = new Map<string, Promise<boolean>>();

/**
 * Tells whether KVM really works: /dev/kvm existing proves nothing (nested setups hang or abort),
 * so the kernel is booted under KVM with an initramfs that powers off at once, within `timeoutMs`.
 * The verdict is cached in memory and in `cacheDir`, keyed by QEMU, kernel and host kernel release.
 */
export async function probeKvm(components: VmComponents, initramfs: string, options: ProbeKvmOptions = {}): Promise<boolean> {
  const key = await probeKey(components);
  let verdict = verdicts.get(key);
  if (!verdict) {
    verdict = cachedOrProbe(key, components, initramfs, options);
    verdicts.set(key, verdict);
    verdict.catch(() => verdicts.delete(key));
  }
  return verdict;
}

/** Resolves `requested` to the accelerator to use; a forced `kvm` that does not work throws {@link VmKvmError}. */
export async function chooseAccel(
  requested: Accel | 'auto',
  components: VmComponents,
  initramfs: string,
  options: ProbeKvmOptions = {},
): Promise<Accel> {
  if (requested === 'tcg') return 'tcg';
  const works = await probeKvm(components, initramfs, options);
  if (works) return 'kvm';
  if (requested === 'kvm') throw new VmKvmError('vm: accel kvm was requested but KVM does not work here (probe boot failed or timed out)');
  return 'tcg';
}

async function cachedOrProbe(key: string, components: VmComponents, initramfs: string, options: ProbeKvmOptions): Promise<boolean> {
  const file = options.cacheDir ? join(options.cacheDir, `kvm-${key}.json`) : undefined;
  if (file) {
    const cached = await readVerdict(file);
    if (cached !== undefined) return cached;
  }
  const works = await bootWithKvm(components, initramfs, options);
  if (file && options.cacheDir) {
    await mkdir(options.cacheDir, { recursive: true });
    const temp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
    await writeFile(temp, `${JSON.stringify({ kvm: works })}\n`);
    await rename(temp, file);
  }
  return works;
}

/** The cached verdict, or undefined when the file is missing or not one (cut short, or foreign): then probe again. */
async function readVerdict(file: string): Promise<boolean | undefined> {
  try {
    const kvm = (JSON.parse(await readFile(file, 'utf8')) as { kvm?: unknown } | null)?.kvm;
    return typeof kvm === 'boolean' ? kvm : undefined;
  } catch {
    return undefined;
  }
}

async function bootWithKvm(components: VmComponents, initramfs: string, options: ProbeKvmOptions): Promise<boolean> {
  try {
    await access('/dev/kvm', constants.R_OK | constants.W_OK);
  } catch {
    return false;
  }
  const spec = { qemu: components.qemu, accel: 'kvm' as const, memoryMiB: 128, kernel: components.kernel, initramfs, shares: [] };
  const outcome = await runQemu({ ...spec, append: 'console=ttyS0 quiet loglevel=3 panic=-1 strata.probe' }, options.timeoutMs ?? 5000, options.signal);
  options.signal?.throwIfAborted();
  return outcome.ended === 'exit' && outcome.console.includes('STRATA_PROBE_OK');
}

async function probeKey(components: VmComponents): Promise<string> {
  const hash = createHash('sha256').update(release());
  for (const file of [components.qemu, components.kernel]) {
    const s = await stat(file);
    hash.update(`${file}\0${s.size}\0${s.mtimeMs}\0`);
  }
  return hash.digest('hex').slice(0, 32);
}
