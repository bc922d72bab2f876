import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** The system programs strata's integration tests use, with the Debian package that provides each. */
export const PEERS = {
  'nix-build': 'nix-bin',
  'nix-store': 'nix-bin',
  'nix-instantiate': 'nix-bin',
  'nix-shell': 'nix-bin',
  nix: 'nix-bin',
  podman: 'podman',
  runc: 'runc',
  skopeo: 'skopeo',
  umoci: 'umoci',
  'docker-registry': 'docker-registry',
  'qemu-system-x86_64': 'qemu-system-x86',
  busybox: 'busybox-static',
  'bash-static': 'bash-static',
  fakeroot: 'fakeroot',
  proot: 'proot',
  htpasswd: 'apache2-utils',
  openssl: 'openssl',
  cpio: 'cpio',
  getfattr: 'attr',
  setfattr: 'attr',
} as const;

/** A peer program name. */
export type Peer = keyof typeof PEERS;

/** True under CI, where a missing peer must fail the run instead of skipping tests. */
export const isCI = process.env.CI === 'true' || process.env.CI === '1';

/** Finds an executable on PATH, or undefined. */
export function which(program: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, program);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {}
  }
  return undefined;
}

/** Names the peers among `needed` that are not installed. */
export function missingPeers(...needed: Peer[]): Peer[] {
  return needed.filter((p) => which(p) === undefined);
}

/**
 * Decides whether tests that need these peers can run. Returns true when all are installed.
 * Locally a missing peer returns false and says which package to install; under CI=true it throws,
 * because a CI run that silently skips its integration tests proves nothing.
 * @example describe.runIf(hasPeers('nix-build', 'podman'))('image runs', () => { ... })
 */
export function hasPeers(...needed: Peer[]): boolean {
  const missing = missingPeers(...needed);
  if (missing.length === 0) return true;
  const packages = [...new Set(missing.map((m) => PEERS[m]))].join(' ');
  const message = `missing test peer(s): ${missing.join(', ')}; install with scripts/install-peers.sh (Debian packages: ${packages})`;
  if (isCI) throw new Error(message);
  process.stderr.write(`skipping: ${message}\n`);
  return false;
}
