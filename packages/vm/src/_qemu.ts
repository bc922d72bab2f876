import { spawn } from 'node:child_process';

/** A directory shared with the guest over virtio-9p. */
export interface Share {
  readonly tag: string;
  readonly path: string;
  readonly securityModel: 'mapped-xattr' | 'none';
  readonly readonly: boolean;
}

/** How to boot the guest. */
export interface BootSpec {
  readonly qemu: string;
  readonly accel: 'kvm' | 'tcg';
  readonly memoryMiB: number;
  readonly kernel: string;
  readonly initramfs: string;
  readonly append: string;
  readonly shares: readonly Share[];
  /** A raw disk image attached as the guest's /dev/vda. */
  readonly disk?: string;
}

/** How a QEMU process ended. */
export interface QemuOutcome {
  readonly ended: 'exit' | 'timeout' | 'abort';
  readonly exitCode: number | null;
  /** The tail of the serial console and QEMU's own messages. */
  readonly console: string;
}

const CONSOLE_TAIL = 16_384;

/** QEMU's command line for `spec`: no devices but the serial console and the 9p shares. */
export function qemuArgs(spec: BootSpec): string[] {
  const args = ['-accel', spec.accel, ...(spec.accel === 'kvm' ? ['-cpu', 'host'] : [])];
  args.push('-m', String(spec.memoryMiB), '-smp', '1', '-nodefaults', '-no-user-config', '-display', 'none');
  args.push('-serial', 'stdio', '-no-reboot', '-kernel', spec.kernel, '-initrd', spec.initramfs, '-append', spec.append);
  for (const share of spec.shares) {
    // QEMU option values escape a comma by doubling it.
    const path = share.path.replaceAll(',', ',,');
    const ro = share.readonly ? ',readonly=on' : '';
    args.push('-virtfs', `local,path=${path},mount_tag=${share.tag},security_model=${share.securityModel}${ro}`);
  }
  if (spec.disk) {
    // A host that runs out of space reports an I/O error to the guest instead of pausing the VM
    // (QEMU's default), which would hang until the timeout. The disk lives for one run: no flushes.
    const file = spec.disk.replaceAll(',', ',,');
    args.push('-drive', `file=${file},format=raw,if=virtio,cache=unsafe,werror=report,rerror=report`);
  }
  return args;
}

/**
 * Runs QEMU until it exits, `timeoutMs` passes or `signal` aborts. On timeout or abort the process
 * is killed with SIGKILL and awaited, so no VM outlives the call.
 */
export async function runQemu(spec: BootSpec, timeoutMs: number, signal?: AbortSignal): Promise<QemuOutcome> {
  signal?.throwIfAborted();
  const child = spawn(spec.qemu, qemuArgs(spec), { stdio: ['ignore', 'pipe', 'pipe'] });
  let console = '';
  const keep = (chunk: Buffer) => {
    console = (console + chunk.toString('utf8')).slice(-CONSOLE_TAIL);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let ended: QemuOutcome['ended'] = 'exit';
  const stop = (why: QemuOutcome['ended']) => {
    if (ended === 'exit') ended = why;
    child.kill('SIGKILL');
  };
  const timer = setTimeout(() => stop('timeout'), timeoutMs);
  const onAbort = () => stop('abort');
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const exitCode = await new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (code) => resolve(code));
    });
    return { ended, exitCode, console };
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
}
