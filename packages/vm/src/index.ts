export { type Accel, chooseAccel, type ProbeKvmOptions, probeKvm } from './accel.js';
export type { ChangeKind, EntryType, RootChange } from './changes.js';
export { type FindVmComponentsOptions, findVmComponents, type VmComponents } from './components.js';
export { type CpioEntry, writeCpio } from './cpio.js';
export { makeDevice, splitDevice } from './device.js';
export {
  type ScriptOutput,
  VmBootError,
  VmDiskFullError,
  VmError,
  type VmErrorCode,
  VmKvmError,
  VmMissingComponentError,
  VmOptionError,
  VmTimeoutError,
} from './errors.js';
export { type BuildInitramfsOptions, buildInitramfs, defaultCacheDir } from './initramfs.js';
export type { OwnershipMap, PathOwnership } from './ownership.js';
export { type RunAsRootOptions, type RunAsRootResult, runAsRoot, type VmMount } from './run.js';
