import { spawnSync } from 'node:child_process';
import { accessSync, constants, realpathSync, statSync } from 'node:fs';
import { which } from './_which.js';

/** How the customisation scripts are confined, as a command prefix and what the user should know. */
export interface Sandbox {
  /** Put before the script's command line. */
  readonly prefix: readonly string[];
  /** Variables the prefix needs. */
  readonly env: Readonly<Record<string, string>>;
  /** Set when a store the scripts could write could not be made read-only (no namespaces here). */
  readonly notice?: string;
}

// Run by `unshare` in a private mount namespace: bind each store directory read-only over itself,
// then run the script with no capabilities at all, so it can neither write the store through a
// contents symlink nor undo the mount (nixpkgs runs these scripts as an unprivileged build user).
// Arguments: the store directories, `--`, then the command.
const PRELUDE = `set -e
for dir do
  [ "$dir" = -- ] && break
  "$STRATA_MOUNT" --bind "$dir" "$dir"
  "$STRATA_MOUNT" -o remount,bind,ro "$dir"
done
while [ "$1" != -- ]; do shift; done
shift
exec "$STRATA_SETPRIV" --no-new-privs --inh-caps=-all --ambient-caps=-all --bounding-set=-all -- "$@"`;

const DROP_CAPABILITIES = ['--no-new-privs', '--inh-caps=-all', '--ambient-caps=-all', '--bounding-set=-all', '--'];

let probed: Map<string, boolean> | undefined;

/** Whether `unshare ARGS true` works here (namespaces may be denied: a container, a sysctl), asked once. */
function unshareWorks(unshare: string, args: readonly string[]): boolean {
  probed ??= new Map();
  const key = args.join(' ');
  if (!probed.has(key)) probed.set(key, spawnSync(unshare, [...args, '--', 'true'], { stdio: 'ignore', timeout: 10_000 }).status === 0);
  return probed.get(key)!;
}

/** The existing directories among `dirs`, resolved, once each. */
function existingDirs(dirs: readonly string[]): string[] {
  const found = new Set<string>();
  for (const dir of dirs) {
    try {
      if (statSync(dir).isDirectory()) found.add(realpathSync(dir));
    } catch {
      // Not there: nothing to protect.
    }
  }
  return [...found];
}

/**
 * The confinement for the customisation scripts: a private mount namespace (a user namespace too
 * when strata is not root) in which every store directory is read-only, the script running
 * without capabilities. Where namespaces are denied, root still drops its capabilities, so a
 * script cannot write the store's read-only files, and a notice says the store is protected by its
 * permissions only.
 */
export function scriptSandbox(storeDirs: readonly string[]): Sandbox {
  const [unshare, setpriv, mount, sh] = ['unshare', 'setpriv', 'mount', 'sh'].map(which);
  const root = process.getuid?.() === 0;
  const namespaces = root ? ['--mount', '--propagation', 'private'] : ['--user', '--map-root-user', '--mount', '--propagation', 'private'];
  const dirs = existingDirs(storeDirs);
  if (unshare && setpriv && mount && sh && unshareWorks(unshare, namespaces)) {
    return { prefix: [unshare, ...namespaces, '--', sh, '-c', PRELUDE, 'strata-sandbox', ...dirs, '--'], env: { STRATA_MOUNT: mount, STRATA_SETPRIV: setpriv } };
  }
  const notice = `the customisation scripts run without a private mount namespace (unshare ${unshare ? 'is not permitted here' : 'is not installed'}): the store is protected by its permissions only`;
  if (root) return setpriv ? { prefix: [setpriv, ...DROP_CAPABILITIES], env: {}, notice } : { prefix: [], env: {}, notice };
  // Not root: a store owned by root (a multi-user Nix) is out of the scripts' reach anyway.
  return { prefix: [], env: {}, ...(dirs.some(writable) ? { notice } : {}) };
}

function writable(dir: string): boolean {
  try {
    accessSync(dir, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}
