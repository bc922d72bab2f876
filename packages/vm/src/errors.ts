const kVmError = Symbol.for('strata.vm.VmError');
const kVmMissingComponentError = Symbol.for('strata.vm.VmMissingComponentError');
const kVmOptionError = Symbol.for('strata.vm.VmOptionError');
const kVmBootError = Symbol.for('strata.vm.VmBootError');
const kVmTimeoutError = Symbol.for('strata.vm.VmTimeoutError');
const kVmKvmError = Symbol.for('strata.vm.VmKvmError');
const kVmDiskFullError = Symbol.for('strata.vm.VmDiskFullError');

/** Every `code` a {@link VmError} can carry. */
export type VmErrorCode = 'MISSING_COMPONENT' | 'INVALID_OPTION' | 'BOOT_FAILED' | 'TIMEOUT' | 'KVM_UNAVAILABLE' | 'DISK_FULL';

/** What the script printed before the run failed, byte for byte. */
export interface ScriptOutput {
  readonly stdout: Buffer;
  readonly stderr: Buffer;
}

/** The base class of every error `@strata/vm` throws; `instanceof` works across installed copies. */
export class VmError extends Error {
  readonly code: VmErrorCode;
  readonly [kVmError] = true;
  constructor(code: VmErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'VmError';
    this.code = code;
  }
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[kVmError] === true;
  }
}

/** A kernel, its modules, busybox, QEMU or getfattr is missing; the message says what to install. */
export class VmMissingComponentError extends VmError {
  declare readonly code: 'MISSING_COMPONENT';
  readonly [kVmMissingComponentError] = true;
  constructor(message: string, options?: ErrorOptions) {
    super('MISSING_COMPONENT', message, options);
    this.name = 'VmMissingComponentError';
  }
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[kVmMissingComponentError] === true;
  }
}

/** An option is out of range or malformed; the message names the option. */
export class VmOptionError extends VmError {
  declare readonly code: 'INVALID_OPTION';
  readonly [kVmOptionError] = true;
  constructor(message: string) {
    super('INVALID_OPTION', message);
    this.name = 'VmOptionError';
  }
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[kVmOptionError] === true;
  }
}

/** The VM stopped without running the script (kernel panic, failed mount); carries the console tail. */
export class VmBootError extends VmError {
  declare readonly code: 'BOOT_FAILED';
  readonly [kVmBootError] = true;
  /** The last lines QEMU's serial console printed. */
  readonly console: string;
  constructor(message: string, console: string) {
    super('BOOT_FAILED', message);
    this.name = 'VmBootError';
    this.console = console;
  }
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[kVmBootError] === true;
  }
}

/** The script did not finish within `timeoutMs`; the VM was killed. Carries what the script printed until then. */
export class VmTimeoutError extends VmError {
  declare readonly code: 'TIMEOUT';
  readonly [kVmTimeoutError] = true;
  /** The script's standard output until it was killed. */
  readonly stdout: Buffer;
  /** The script's standard error until it was killed. */
  readonly stderr: Buffer;
  constructor(message: string, output: ScriptOutput = { stdout: Buffer.alloc(0), stderr: Buffer.alloc(0) }) {
    super('TIMEOUT', message);
    this.name = 'VmTimeoutError';
    this.stdout = output.stdout;
    this.stderr = output.stderr;
  }
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[kVmTimeoutError] === true;
  }
}

/** `accel: 'kvm'` was forced but KVM does not work on this machine. */
export class VmKvmError extends VmError {
  declare readonly code: 'KVM_UNAVAILABLE';
  readonly [kVmKvmError] = true;
  constructor(message: string) {
    super('KVM_UNAVAILABLE', message);
    this.name = 'VmKvmError';
  }
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[kVmKvmError] === true;
  }
}

/**
 * The script filled the VM's disk (`diskSize` MiB for everything it writes to the root and /tmp):
 * its changes are incomplete, so none are reported. Carries the script's output and exit status.
 */
export class VmDiskFullError extends VmError {
  declare readonly code: 'DISK_FULL';
  readonly [kVmDiskFullError] = true;
  /** The script's standard output. */
  readonly stdout: Buffer;
  /** The script's standard error (typically naming the write that failed). */
  readonly stderr: Buffer;
  /** The script's exit status. */
  readonly exitCode: number;
  constructor(message: string, output: ScriptOutput & { readonly exitCode: number }) {
    super('DISK_FULL', message);
    this.name = 'VmDiskFullError';
    this.stdout = output.stdout;
    this.stderr = output.stderr;
    this.exitCode = output.exitCode;
  }
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[kVmDiskFullError] === true;
  }
}
