import { posix } from 'node:path';
import { VmOptionError } from './errors.js';

/**
 * How one path of the root appears inside the VM when the host file cannot say it: the image's
 * owner, mode and node type (an unprivileged unpack leaves every file owned by the host user, and
 * device nodes as placeholders). The shape matches `@strata/layer`'s `OwnershipOverride`, so a map
 * made for a layer can be passed as it is (owner names are ignored: the guest sees numbers).
 */
export interface PathOwnership {
  /** @default 0 (the host's owner with `preserveOwnership`) */
  readonly uid?: number;
  /** @default 0 (the host's group with `preserveOwnership`) */
  readonly gid?: number;
  /**
   * Permission bits including setuid/setgid/sticky (`0o4755`). File-type bits (`0o100000`...) may be
   * included; they must then agree with the path's type. Ignored for symlinks (always 0o777).
   * @default the host file's permission bits
   */
  readonly mode?: number;
  /** Makes the path a device node or fifo. The root holds a placeholder file there (its content is ignored), or nothing. */
  readonly device?: { readonly type: 'char' | 'block' | 'fifo'; readonly major: number; readonly minor: number };
}

/** Per-path ownership keyed by absolute image path without a trailing slash (`/etc/shadow`, `/` for the root itself). */
export type OwnershipMap = ReadonlyMap<string, PathOwnership> | Readonly<Record<string, PathOwnership>>;

const MAX_ID = 0xfffffffe; // (uid_t)-1 means "unchanged" to chown(2): not an owner
const TYPE_MASK = 0o170000;
const DEVICE_TYPE = { char: 0o020000, block: 0o060000, fifo: 0o010000 } as const;

/**
 * Checks every key and value of `ownership` and returns it as a Map. Errors name the key and field
 * (`vm: ownership["/etc/shadow"].mode must be ...`), so a caller's bad map fails before any copy.
 */
export function checkOwnership(ownership: OwnershipMap | undefined): Map<string, PathOwnership> {
  if (ownership === undefined) return new Map();
  if (typeof ownership !== 'object' || ownership === null) throw new VmOptionError('vm: ownership must be a Map or an object keyed by image path');
  const entries = ownership instanceof Map ? [...ownership] : Object.entries(ownership);
  const checked = new Map<string, PathOwnership>();
  for (const [path, value] of entries as [string, PathOwnership][]) {
    const at = `vm: ownership[${JSON.stringify(path)}]`;
    if (typeof path !== 'string' || !path.startsWith('/') || posix.normalize(path) !== path || (path !== '/' && path.endsWith('/'))) {
      throw new VmOptionError(`${at}: the key must be an absolute image path without '.', '..', '//' or a trailing slash`);
    }
    if (typeof value !== 'object' || value === null) throw new VmOptionError(`${at} must be an object with uid, gid, mode or device`);
    integer(`${at}.uid`, value.uid, MAX_ID);
    integer(`${at}.gid`, value.gid, MAX_ID);
    integer(`${at}.mode`, value.mode, 0o177777);
    if (value.device !== undefined) checkDevice(at, value);
    else if (value.mode !== undefined && [DEVICE_TYPE.char, DEVICE_TYPE.block].includes((value.mode & TYPE_MASK) as 0o020000)) {
      throw new VmOptionError(`${at}.mode has device type bits but no device numbers: give device { type, major, minor }`);
    }
    checked.set(path, value);
  }
  return checked;
}

function checkDevice(at: string, value: PathOwnership): void {
  const device = value.device!;
  if (typeof device !== 'object' || device === null || !(device.type in DEVICE_TYPE)) {
    throw new VmOptionError(`${at}.device.type must be char, block or fifo`);
  }
  // A fifo has no numbers; a device node without them would be silently 0:0.
  const required = device.type !== 'fifo';
  integer(`${at}.device.major`, device.major, 0xffffffff, required);
  integer(`${at}.device.minor`, device.minor, 0xffffffff, required);
  const typeBits = (value.mode ?? 0) & TYPE_MASK;
  if (typeBits !== 0 && typeBits !== DEVICE_TYPE[device.type]) {
    throw new VmOptionError(`${at}.mode has file-type bits 0o${typeBits.toString(8)}, which disagree with device.type ${device.type}`);
  }
}

function integer(field: string, value: number | undefined, max: number, required = false): void {
  if (value === undefined && !required) return;
  if (value === undefined || !Number.isInteger(value) || value < 0 || value > max) {
    throw new VmOptionError(`${field} must be an integer from 0 to ${max}, got ${JSON.stringify(value)}`);
  }
}

/**
 * The full mode (type bits included) a path is presented with: `hostMode`'s type unless the entry
 * makes it a device, the entry's permission bits over the host's. Throws when the entry's type
 * bits or device contradict the host file (a directory cannot become a device).
 */
export function presentedMode(path: string, hostMode: number, entry: PathOwnership | undefined): number {
  const at = `vm: ownership[${JSON.stringify(path)}]`;
  const hostType = hostMode & TYPE_MASK;
  let type = hostType;
  if (entry?.device) {
    if (hostType === 0o040000) throw new VmOptionError(`${at}.device: ${path} is a directory in the root`);
    type = DEVICE_TYPE[entry.device.type];
  } else if (entry?.mode !== undefined && (entry.mode & TYPE_MASK) !== 0 && (entry.mode & TYPE_MASK) !== hostType) {
    throw new VmOptionError(`${at}.mode has file-type bits 0o${(entry.mode & TYPE_MASK).toString(8)}, but ${path} is 0o${hostType.toString(8)} in the root`);
  }
  if (type === 0o120000) return 0o120777;
  return type | ((entry?.mode ?? hostMode) & 0o7777);
}
