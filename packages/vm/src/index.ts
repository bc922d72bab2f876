export { type Accel, chooseAccel, type ProbeKvmOptions, probeKvm } from './accel.js';
export { type ChangeKind, type EntryType, type RootChange, splitDevice } from './changes.js';
export { type FindVmComponentsOptions, findVmComponents, type VmComponents } from './components.js';
export { type CpioEntry, writeCpio } from './cpio.js';
export {
  VmBootError,
  VmError,
  type VmErrorCode,
  VmKvmError,
  VmMissingComponentError,
  VmOptionError,
  VmTimeoutError,
} from './errors.js';
export { type BuildInitramfsOptions, buildInitramfs, defaultCacheDir } from './initramfs.js';
export { type RunAsRootOptions, type RunAsRootResult, runAsRoot, type VmMount } from './run.js';
