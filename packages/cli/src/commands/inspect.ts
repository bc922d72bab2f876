import { readImage, storedManifest } from '@strata/image';
import { type Descriptor, formatPlatform, isIndexMediaType, type Platform, type PulledImage, parseIndex, parseManifest, pullImage, RegistryClient, RegistryHttpError } from '@strata/registry';
import type { Command } from 'commander';
import type { CommandContext } from '../context.js';
import { CliError } from '../errors.js';
import { formatBytes, formatTable } from '../format.js';
import { type ImageLocation, parseImageLocation } from '../image-location.js';
import { nameAndTag, openOci } from '../open-image.js';
import { platformOption } from '../platform-option.js';
import { parseBoolean } from './push.js';
import { addRegistryOptions, type RegistryFlags, registryOptions } from '../registry-options.js';

interface InspectFlags extends RegistryFlags {
  readonly json?: boolean;
  readonly raw?: boolean;
  readonly platform?: Platform;
}

/** What `inspect` shows of one image. */
interface Inspection {
  readonly name: string;
  readonly digest: string;
  readonly mediaType: string;
  readonly imageId: string;
  readonly platform: Platform;
  readonly created?: string;
  readonly repoTags?: readonly string[];
  /** The config's `config` object: Env, Cmd, Entrypoint, … */
  readonly config: Record<string, unknown>;
  readonly layers: readonly (Descriptor & { readonly diffId?: string })[];
  /** The index the image was chosen from. */
  readonly index?: { readonly digest: string; readonly mediaType: string; readonly platforms: readonly string[] };
  /** Artifacts whose subject is the manifest (SBOMs, signatures): referrers API, or the fallback tag. */
  readonly referrers?: readonly Descriptor[];
  /** The bytes `--raw` prints. */
  readonly raw: Buffer;
}

interface ImageConfigJson {
  readonly os?: string;
  readonly architecture?: string;
  readonly variant?: string;
  readonly created?: string;
  readonly config?: Record<string, unknown> | null;
  readonly rootfs?: { readonly diff_ids?: readonly string[] };
}

function parseConfig(bytes: Buffer): ImageConfigJson {
  return JSON.parse(bytes.toString('utf8')) as ImageConfigJson;
}

function platformOf(config: ImageConfigJson): Platform {
  return { os: config.os ?? '', architecture: config.architecture ?? '', ...(config.variant ? { variant: config.variant } : {}) };
}

/**
 * The manifest's referrers, or undefined when the registry refuses to say (a registry without the
 * referrers API may answer its endpoint with 400 or 405 instead of 404): they are an extra, not what
 * inspect is asked for.
 */
async function listReferrers(client: RegistryClient, repository: string, digest: string, signal: AbortSignal): Promise<Descriptor[] | undefined> {
  try {
    return await client.listReferrers(repository, digest, { signal });
  } catch (error) {
    if (error instanceof RegistryHttpError && error.status >= 400 && error.status < 500) return undefined;
    throw error;
  }
}

async function inspectRegistry(location: Extract<ImageLocation, { kind: 'registry' }>, flags: InspectFlags, context: CommandContext): Promise<Inspection> {
  const client = new RegistryClient(location.reference.registry, registryOptions(flags, context));
  const pulled: PulledImage = await pullImage(location.reference, { client, signal: context.signal, ...(flags.platform ? { platform: flags.platform } : {}) });
  const referrers = await listReferrers(client, location.reference.repository, pulled.digest, context.signal);
  const config = parseConfig(pulled.config.bytes);
  const index = pulled.index;
  const diffIds = config.rootfs?.diff_ids ?? [];
  return {
    name: location.text,
    digest: pulled.digest,
    mediaType: pulled.mediaType,
    imageId: pulled.config.descriptor.digest,
    platform: platformOf(config),
    ...(config.created ? { created: config.created } : {}),
    config: config.config ?? {},
    layers: pulled.manifest.layers.map((l, i) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size, ...(diffIds[i] ? { diffId: diffIds[i] } : {}) })),
    ...(index
      ? {
          index: {
            digest: index.digest,
            mediaType: index.mediaType,
            platforms: platformsOf(index.bytes),
          },
        }
      : {}),
    ...(referrers ? { referrers: referrers.map((r) => ({ mediaType: r.mediaType, digest: r.digest, size: r.size, ...(r.artifactType ? { artifactType: r.artifactType } : {}) })) } : {}),
    // The bytes the reference names (an index stays an index, as `skopeo inspect --raw` shows it), unless a platform was picked.
    raw: index && !flags.platform && isIndexMediaType(index.mediaType) ? index.bytes : pulled.manifestBytes,
  };
}

async function inspectArchive(location: Extract<ImageLocation, { kind: 'docker-archive' }>, context: CommandContext): Promise<Inspection> {
  const image = await readImage(location.path, location.name ? nameAndTag(location.name) : {});
  const stored = await storedManifest(image, { signal: context.signal });
  const config = parseConfig(stored.config.bytes);
  const diffIds = config.rootfs?.diff_ids ?? [];
  return {
    name: location.text,
    digest: stored.digest,
    mediaType: stored.mediaType,
    imageId: stored.config.digest,
    platform: image.platform,
    ...(config.created ? { created: config.created } : {}),
    repoTags: image.repoTags,
    config: config.config ?? {},
    layers: stored.layers.map((l, i) => ({ ...l, ...(diffIds[i] ? { diffId: diffIds[i] } : {}) })),
    raw: stored.bytes,
  };
}

async function inspectOci(location: Extract<ImageLocation, { kind: 'oci' | 'oci-archive' }>, flags: InspectFlags): Promise<Inspection> {
  const { image, manifest, index } = await openOci(location, flags.platform);
  const configBytes = image.config(image.layers.map((l) => l.diffId!));
  const config = parseConfig(configBytes);
  const parsed = parseManifest(manifest.bytes, `${location.text}: manifest`);
  const diffIds = config.rootfs?.diff_ids ?? [];
  return {
    name: location.text,
    digest: manifest.digest,
    mediaType: manifest.mediaType,
    imageId: parsed.config.digest,
    platform: image.platform,
    ...(config.created ? { created: config.created } : {}),
    ...(image.repoTags.length > 0 ? { repoTags: image.repoTags } : {}),
    config: config.config ?? {},
    layers: parsed.layers.map((l, i) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size, ...(diffIds[i] ? { diffId: diffIds[i] } : {}) })),
    ...(index ? { index: { digest: index.digest, mediaType: index.mediaType, platforms: platformsOf(index.bytes) } } : {}),
    raw: index && !flags.platform ? index.bytes : manifest.bytes,
  };
}

function platformsOf(indexBytes: Buffer): string[] {
  return parseIndex(indexBytes).manifests.map((m) => (m.platform ? formatPlatform(m.platform) : 'unknown'));
}

// The container config's keys in the order people look for them; any others follow, sorted.
const CONFIG_ORDER = ['User', 'Env', 'Entrypoint', 'Cmd', 'WorkingDir', 'ExposedPorts', 'Volumes', 'Labels', 'StopSignal'];

function configRows(config: Record<string, unknown>): string[][] {
  const keys = [...CONFIG_ORDER.filter((k) => k in config), ...Object.keys(config).filter((k) => !CONFIG_ORDER.includes(k)).sort()];
  const rows: string[][] = [];
  for (const key of keys) {
    const value = config[key];
    if (value === null || value === undefined || value === '') continue;
    let lines: string[];
    if (key === 'Env' && Array.isArray(value)) lines = value.map(String);
    else if ((key === 'Labels' || key === 'ExposedPorts' || key === 'Volumes') && typeof value === 'object') {
      lines = Object.entries(value as Record<string, unknown>).map(([k, v]) => (key === 'Labels' ? `${k}=${String(v)}` : k));
    } else lines = [typeof value === 'string' ? value : JSON.stringify(value)];
    rows.push(...lines.map((line, i) => [i === 0 ? key : '', line]));
  }
  return rows;
}

/** The human form: aligned `Field  value` lines, then the layers as a table. */
function describe(i: Inspection): string {
  const rows: string[][] = [
    ['Name', i.name],
    ['Digest', i.digest],
    ['Media type', i.mediaType],
    ['Image ID', i.imageId],
    ['Platform', formatPlatform(i.platform)],
    ...(i.created ? [['Created', i.created]] : []),
    ...(i.repoTags && i.repoTags.length > 0 ? [['Repo tags', i.repoTags.join(', ')]] : []),
    ...(i.index ? [['Index', `${i.index.digest} (${i.index.platforms.join(', ')})`]] : []),
    ...configRows(i.config),
    ...(i.referrers ?? []).map((r, n) => [n === 0 ? 'Referrers' : '', `${r.digest} ${r.artifactType ?? r.mediaType}`]),
    ['Layers', `${i.layers.length}, ${formatBytes(i.layers.reduce((s, l) => s + l.size, 0))}`],
  ];
  const layers = formatTable(
    [['', '#', 'DIGEST', 'MEDIA TYPE', 'SIZE'], ...i.layers.map((l, n) => ['', String(n + 1), l.digest, l.mediaType, formatBytes(l.size)])],
    [false, true, false, false, true],
  );
  return `${formatTable(rows)}\n${layers}\n`;
}

/** The `--json` form: an object with the digest, the config and the layers (and what the human form shows). */
function asJson(i: Inspection): string {
  const { raw: _, ...rest } = i;
  return `${JSON.stringify(rest, null, 2)}\n`;
}

/** `strata inspect (ARCHIVE | OCI | REFERENCE) [--json] [--raw]`: what an image is, without reading its layers. */
export function registerInspect(program: Command, context: CommandContext): void {
  addRegistryOptions(program.command('inspect'))
    .description('show an image: name, digest, platform, created, config (Env, Cmd, …) and layers, from a registry or an archive')
    .argument('<image>', 'a registry reference (REGISTRY/REPO[:TAG|@DIGEST], or docker://…), a docker-archive (docker-archive:PATH[:NAME:TAG]), an OCI layout (oci:DIR[:NAME], oci-archive:FILE[:NAME])')
    .option('--json', 'print a JSON object (digest, mediaType, imageId, platform, created, config, layers, index)')
    .option('--raw', "print the manifest's exact bytes (for a docker-archive: the manifest push sends for its layers as they are stored)")
    .addOption(platformOption('the platform to show from a multi-platform image (default: the host\'s)'))
    .option('--tls-verify <bool>', 'require https with a verified certificate unless the registry is on loopback', parseBoolean, true)
    .action(async (text: string, flags: InspectFlags) => {
      if (flags.json && flags.raw) throw new CliError('inspect: --json and --raw are two different outputs; give one', 'USAGE');
      const location = await parseImageLocation(text, { mustExist: true });
      let inspection: Inspection;
      if (location.kind === 'registry') inspection = await inspectRegistry(location, flags, context);
      else if (location.kind === 'docker-archive') inspection = await inspectArchive(location, context);
      else if (location.kind === 'oci' || location.kind === 'oci-archive') inspection = await inspectOci(location, flags);
      else throw new CliError(`${text}: inspect reads an image (a registry reference, a docker-archive or an OCI layout), not a spec`, 'USAGE');
      if (flags.raw) context.stdout.write(inspection.raw);
      else context.stdout.write(flags.json ? asJson(inspection) : describe(inspection));
    });
}
