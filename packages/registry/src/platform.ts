import { arch } from 'node:process';
import { RegistryError } from './errors.js';
import type { Descriptor, Platform } from './media-types.js';

const NODE_TO_OCI_ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };

/** The host's platform in OCI terms (`linux/amd64` on x64 Linux). */
export function hostPlatform(): Platform {
  return { os: process.platform === 'win32' ? 'windows' : 'linux', architecture: NODE_TO_OCI_ARCH[arch] ?? arch };
}

/** Parses `os/arch[/variant]`, e.g. `linux/arm64/v8`. */
export function parsePlatform(text: string): Platform {
  const [os, architecture, variant, ...rest] = text.split('/');
  if (!os || !architecture || rest.length > 0) throw new RegistryError('PLATFORM_NOT_FOUND', `platform ${JSON.stringify(text)}: expected os/arch[/variant]`);
  return { os, architecture, ...(variant ? { variant } : {}) };
}

/** Formats a platform as `os/arch[/variant]`. */
export function formatPlatform(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;
}

/** True when `candidate` satisfies `wanted` (os, arch, and variant / os.version / os.features when asked for). */
export function platformMatches(candidate: Platform, wanted: Platform): boolean {
  if (candidate.os !== wanted.os || candidate.architecture !== wanted.architecture) return false;
  if (wanted.variant && candidate.variant !== wanted.variant) return false;
  if (wanted['os.version'] && candidate['os.version'] !== wanted['os.version']) return false;
  return (wanted['os.features'] ?? []).every((f) => candidate['os.features']?.includes(f));
}

/**
 * Picks the index entry for a platform. An entry without `platform` counts as linux/amd64
 * (go-containerregistry's rule). Fails naming the platforms that were there.
 */
export function selectPlatform(manifests: readonly Descriptor[], wanted: Platform, what = 'index'): Descriptor {
  const found = manifests.find((m) => platformMatches(m.platform ?? { os: 'linux', architecture: 'amd64' }, wanted));
  if (found) return found;
  const available = manifests.map((m) => (m.platform ? formatPlatform(m.platform) : 'linux/amd64 (implied)')).join(', ');
  throw new RegistryError('PLATFORM_NOT_FOUND', `${what}: no manifest for ${formatPlatform(wanted)}; available: ${available || 'none'}`);
}
