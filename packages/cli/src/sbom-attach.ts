import type { Image } from '@strata/image';
import { attachArtifact, type PushedImage, type Reference, type RegistryClientOptions } from '@strata/registry';
import { createSbom, type Sbom, SBOM_FORMATS, type SbomFormat } from '@strata/sbom';
import { Option } from 'commander';
import type { CommandContext } from './context.js';
import type { Reporter } from './report.js';

/** push's `--sbom FORMAT`. */
export function sbomOption(): Option {
  return new Option('--sbom <format>', 'attach an SBOM of the image (as `strata sbom` writes it) as an OCI artifact whose subject is the pushed manifest').choices(SBOM_FORMATS);
}

/** The SBOM to attach, made before the push: it reads the layers once, and the push then knows their digests. */
export async function sbomBeforePush(image: Image, format: SbomFormat | undefined, context: CommandContext): Promise<Sbom | undefined> {
  return format ? createSbom(image, format, { signal: context.signal }) : undefined;
}

/**
 * Attaches `sbom` to the pushed image (referrers API, or the `sha256-<hex>` fallback tag a registry
 * without it needs), says where on stderr, and returns it for push's `--json`.
 */
export async function attachSbom(
  sbom: Sbom,
  pushed: PushedImage,
  reference: Reference,
  options: RegistryClientOptions,
  report: Reporter,
): Promise<{ readonly reference: string; readonly artifactType: string }> {
  const subject = { mediaType: pushed.mediaType, digest: pushed.digest, size: pushed.manifest.length };
  // The SBOM's own time (the image's `created`), so the artifact manifest is as reproducible as the document.
  const created = JSON.parse(sbom.bytes.toString('utf8')) as { creationInfo?: { created?: string }; metadata?: { timestamp?: string } };
  const time = created.creationInfo?.created ?? created.metadata?.timestamp;
  const attached = await attachArtifact({ registry: reference.registry, repository: reference.repository }, subject, {
    artifactType: sbom.mediaType,
    bytes: sbom.bytes,
    ...(time ? { annotations: { 'org.opencontainers.image.created': time } } : {}),
  }, { ...options, signal: report.context.signal });
  report.info(`attached ${sbom.format} SBOM as ${attached.reference}`);
  return { reference: attached.reference, artifactType: sbom.mediaType };
}
