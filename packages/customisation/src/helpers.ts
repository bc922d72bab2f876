import { copyFile, lstat, mkdir, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { CustomisationError } from './errors.js';

/** nixpkgs' fakeNss with its overridable extra lines. */
export interface FakeNssOptions {
  readonly extraPasswdLines?: readonly string[];
  readonly extraGroupLines?: readonly string[];
}

/** The dockerTools helpers, as the spec names them. */
export interface ImageHelpers {
  /** `/bin/sh` → a shell: true finds `bin/bash` (then `bin/sh`) in contents; a string is the target. */
  readonly binSh?: boolean | string;
  /** `/usr/bin/env` → `env`: true finds `bin/env` in contents; a string is the target. */
  readonly usrBinEnv?: boolean | string;
  /** CA bundle at the three usual paths: true copies the host's bundle; a string is the bundle file. */
  readonly caCertificates?: boolean | string;
  /** `/etc/passwd`, `/etc/group`, `/etc/nsswitch.conf`, `/var/empty` as nixpkgs' fakeNss. */
  readonly fakeNss?: boolean | FakeNssOptions;
}

/** Options for {@link applyHelpers}. */
export interface ApplyHelpersOptions {
  /** The `contents` items, searched in order for what binSh / usrBinEnv point at. */
  readonly contents?: readonly string[];
  /** A chroot store, to look inside store paths of contents. @default '' */
  readonly storeRoot?: string;
  /** Where the host keeps its CA bundle. @default the first of Debian's and Fedora's paths that exists */
  readonly hostCaBundle?: string;
}

const CA_PATHS = ['/etc/ssl/certs/ca-bundle.crt', '/etc/ssl/certs/ca-certificates.crt', '/etc/pki/tls/certs/ca-bundle.crt'];
const HOST_CA_BUNDLES = ['/etc/ssl/certs/ca-certificates.crt', '/etc/pki/tls/certs/ca-bundle.crt', '/etc/ssl/cert.pem'];

async function exists(path: string): Promise<boolean> {
  return lstat(path).then(
    () => true,
    () => false,
  );
}

async function findInContents(relative: readonly string[], options: ApplyHelpersOptions, helper: string): Promise<string> {
  for (const item of options.contents ?? []) {
    for (const rel of relative) {
      const inStore = item.startsWith('/nix/store/');
      const disk = inStore ? join(options.storeRoot ?? '', item, rel) : join(item, rel);
      // A local directory is copied into the image root: its files are at their own path there.
      if (await exists(disk)) return inStore ? `${item}/${rel}` : `/${rel}`;
    }
  }
  throw new CustomisationError(
    'INVALID_OPTION',
    `${helper}: no contents item provides ${relative.join(' or ')}; add one (e.g. bash or coreutils) to contents, or give the target path: "${helper}": "/nix/store/...-bash/bin/bash"`,
  );
}

async function place(root: string, path: string, make: (target: string) => Promise<void>, notices: string[]): Promise<void> {
  const target = join(root, path);
  await mkdir(dirname(target), { recursive: true });
  if (await exists(target)) {
    // As in nixpkgs, where helpers are contents items merged by symlinkJoin: the first one wins.
    notices.push(`${path} is provided by contents already; keeping that one and not the helper's`);
    return;
  }
  await make(target);
}

/** The fakeNss files: root and nobody plus the extra lines, each file ending in a newline. */
export function fakeNssFiles(options: FakeNssOptions = {}): Record<string, string> {
  const lines = (xs: readonly string[]) => `${xs.join('\n')}\n`;
  return {
    '/etc/passwd': lines(['root:x:0:0:root user:/var/empty:/bin/sh', ...(options.extraPasswdLines ?? []), 'nobody:x:65534:65534:nobody:/var/empty:/bin/sh']),
    '/etc/group': lines(['root:x:0:', ...(options.extraGroupLines ?? []), 'nobody:x:65534:']),
    '/etc/nsswitch.conf': 'hosts: files dns\n',
  };
}

/**
 * Adds the dockerTools helpers to a customisation layer directory. Where nixpkgs points at a store
 * path (bash for /bin/sh, coreutils for env), the target comes from the option or from contents.
 * fakeNss writes real files (nixpkgs links them into a fakeNss store path; the content is the same).
 * A path contents already provide is left as it is; the returned notices say which.
 */
export async function applyHelpers(root: string, helpers: ImageHelpers, options: ApplyHelpersOptions = {}): Promise<string[]> {
  const notices: string[] = [];
  if (helpers.binSh) {
    const shell = typeof helpers.binSh === 'string' ? helpers.binSh : await findInContents(['bin/bash', 'bin/sh'], options, 'binSh');
    await place(root, '/bin/sh', (t) => symlink(shell, t), notices);
  }
  if (helpers.usrBinEnv) {
    const env = typeof helpers.usrBinEnv === 'string' ? helpers.usrBinEnv : await findInContents(['bin/env'], options, 'usrBinEnv');
    await place(root, '/usr/bin/env', (t) => symlink(env, t), notices);
  }
  if (helpers.caCertificates) await addCaCertificates(root, helpers.caCertificates, options, notices);
  if (helpers.fakeNss) {
    const files = fakeNssFiles(typeof helpers.fakeNss === 'object' ? helpers.fakeNss : {});
    for (const [path, text] of Object.entries(files)) await place(root, path, (t) => writeFile(t, text, { mode: 0o644 }), notices);
    await place(root, '/var/empty', (t) => mkdir(t, { mode: 0o555 }), notices);
  }
  return notices;
}

async function addCaCertificates(root: string, option: true | string, options: ApplyHelpersOptions, notices: string[]): Promise<void> {
  const bundle = typeof option === 'string' ? option : options.hostCaBundle ?? (await firstExisting(HOST_CA_BUNDLES));
  if (!bundle) throw new CustomisationError('INVALID_OPTION', `caCertificates: the host has no CA bundle (looked at ${HOST_CA_BUNDLES.join(', ')}); install ca-certificates or give a bundle path`);
  if (bundle.startsWith('/nix/store/')) {
    // A store bundle: three links into it, as nixpkgs does; the store path joins the closure.
    for (const path of CA_PATHS) await place(root, path, (t) => symlink(bundle, t), notices);
    return;
  }
  if (!(await exists(bundle))) throw new CustomisationError('INVALID_OPTION', `caCertificates: ${bundle} does not exist`);
  const [first, ...others] = CA_PATHS as [string, ...string[]];
  await place(root, first, (t) => copyFile(bundle, t), notices);
  for (const path of others) await place(root, path, (t) => symlink(first, t), notices);
}

async function firstExisting(paths: readonly string[]): Promise<string | undefined> {
  for (const p of paths) if (await exists(p)) return p;
  return undefined;
}

/**
 * nixpkgs' shadowSetup script: makes /etc/passwd, /etc/shadow, /etc/group, /etc/gshadow and PAM's
 * `other` file if missing, so useradd/groupadd work in fakeRootCommands (with enableFakechroot) or
 * runAsRoot. `runtimeShell` is root's login shell. Shadow's tools come from the host (/usr/sbin).
 */
export function shadowSetupScript(runtimeShell = '/bin/sh'): string {
  return `export PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH
mkdir -p /etc/pam.d
if [ ! -f /etc/passwd ]; then
  echo "root:x:0:0::/root:${runtimeShell}" > /etc/passwd
  echo "root:!x:::::::" > /etc/shadow
fi
if [ ! -f /etc/group ]; then
  echo "root:x:0:" > /etc/group
  echo "root:x::" > /etc/gshadow
fi
if [ ! -f /etc/pam.d/other ]; then
  cat > /etc/pam.d/other <<'STRATA_PAM'
account sufficient pam_unix.so
auth sufficient pam_rootok.so
password requisite pam_unix.so nullok yescrypt
session required pam_unix.so
STRATA_PAM
fi
if [ ! -f /etc/login.defs ]; then
  touch /etc/login.defs
fi
`;
}
