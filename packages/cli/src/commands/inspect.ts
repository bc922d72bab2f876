import { readImage, storedManifest } from '@strata/image';
import { type Descriptor, formatPlatform, isIndexMediaType, type Platform, type PulledImage, parseIndex, parseManifest, pullImage, RegistryClient, RegistryHttpError } from '@strata/registry';
import type { Command } from 'commander';
import type { CommandContext } from '../context.js';
import { CliError } from '../errors.js';
import { formatBytes, formatTable } from '../format.js';
import { type ImageLocation, parseImageLocation } from '../image-location.js';
import { nameAndTag, openOci } from '../open-image.js';
import { platformOption } from '../platform-option.js';
import { parseBoolean } from '../arguments.js';
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

function platformsOf(indexBytes: Buffer): string[] {
  return parseIndex(indexBytes).manifests.map((m) => (m.platform ? formatPlatform(m.platform) : 'unknown'));
}

/** What every source gives; the config's fields and the layers' diffIDs are read from the config bytes. */
interface Parts {
  readonly name: string;
  readonly digest: string;
  readonly mediaType: string;
  readonly configBytes: Buffer;
  readonly imageId: string;
  readonly layers: readonly Descriptor[];
  readonly repoTags?: readonly string[];
  readonly index?: { readonly digest: string; readonly mediaType: string; readonly bytes: Buffer };
  readonly referrers?: readonly Descriptor[];
  /** A platform was asked for: `--raw` then prints the manifest, not the index it was picked from. */
  readonly picked: boolean;
  readonly manifestBytes: Buffer;
}

function inspection(p: Parts): Inspection {
  const config = parseConfig(p.configBytes);
  const diffIds = config.rootfs?.diff_ids ?? [];
  return {
    name: p.name,
    digest: p.digest,
    mediaType: p.mediaType,
    imageId: p.imageId,
    platform: platformOf(config),
    ...(config.created ? { created: config.created } : {}),
    ...(p.repoTags && p.repoTags.length > 0 ? { repoTags: p.repoTags } : {}),
    config: config.config ?? {},
    layers: p.layers.map((l, i) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size, ...(diffIds[i] ? { diffId: diffIds[i] } : {}) })),
    ...(p.index ? { index: { digest: p.index.digest, mediaType: p.index.mediaType, platforms: platformsOf(p.index.bytes) } } : {}),
    ...(p.referrers ? { referrers: p.referrers.map((r) => ({ mediaType: r.mediaType, digest: r.digest, size: r.size, ...(r.artifactType ? { artifactType: r.artifactType } : {}) })) } : {}),
    // The bytes the reference names (an index stays an index, as `skopeo inspect --raw` shows it), unless a platform was picked.
    raw: p.index && !p.picked && isIndexMediaType(p.index.mediaType) ? p.index.bytes : p.manifestBytes,
  };
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
  return inspection({
    name: location.text,
    digest: pulled.digest,
    mediaType: pulled.mediaType,
    configBytes: pulled.config.bytes,
    imageId: pulled.config.descriptor.digest,
    layers: pulled.manifest.layers,
    ...(pulled.index ? { index: pulled.index } : {}),
    ...(referrers ? { referrers } : {}),
    picked: flags.platform !== undefined,
    manifestBytes: pulled.manifestBytes,
  });
}

async function inspectArchive(location: Extract<ImageLocation, { kind: 'docker-archive' }>, context: CommandContext): Promise<Inspection> {
  const image = await readImage(location.path, location.name ? nameAndTag(location.name) : {});
  const stored = await storedManifest(image, { signal: context.signal });
  return inspection({
    name: location.text,
    digest: stored.digest,
    mediaType: stored.mediaType,
    configBytes: stored.config.bytes,
    imageId: stored.config.digest,
    layers: stored.layers,
    repoTags: image.repoTags,
    picked: false,
    manifestBytes: stored.bytes,
  });
}

async function inspectOci(location: Extract<ImageLocation, { kind: 'oci' | 'oci-archive' }>, flags: InspectFlags): Promise<Inspection> {
  const { image, manifest, index } = await openOci(location, flags.platform);
  const parsed = parseManifest(manifest.bytes, `${location.text}: manifest`);
  return inspection({
    name: location.text,
    digest: manifest.digest,
    mediaType: manifest.mediaType,
    configBytes: image.config(image.layers.map((l) => l.diffId!)),
    imageId: parsed.config.digest,
    layers: parsed.layers,
    repoTags: image.repoTags,
    ...(index ? { index } : {}),
    picked: flags.platform !== undefined,
    manifestBytes: manifest.bytes,
  });
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
    .option('--raw', "print the manifest's exact bytes (for a docker-archive: the manifest push --compression none sends for its layers as they are stored)")
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
