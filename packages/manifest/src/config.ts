import { arch } from 'node:process';
import * as z from 'zod';
import { describeZodError, ManifestError } from './errors.js';

const strings = z.array(z.string());
// Docker reads a JSON string here as a one-element list (its strslice type) and nixpkgs passes the
// user's string through; podman reads only lists, so the list Docker would see is what we write.
const command = z.union([z.string().transform((s) => [s]), strings]).nullable();
const emptyObjects = z.record(z.string(), z.object({}).strict());

/**
 * The `config` section of an image config (Docker Image Spec v1.3 / OCI), every key optional.
 * `Cmd` and `Entrypoint` may be given as one string, read as Docker reads it: `["that string"]`.
 */
export const ContainerConfigSchema = z
  .object({
    User: z.string(),
    ExposedPorts: emptyObjects,
    Env: strings,
    Entrypoint: command,
    Cmd: command,
    Volumes: emptyObjects,
    WorkingDir: z.string(),
    Labels: z.record(z.string(), z.string()),
    StopSignal: z.string(),
    Healthcheck: z
      .object({
        Test: strings,
        Interval: z.number().int().nonnegative(),
        Timeout: z.number().int().nonnegative(),
        StartPeriod: z.number().int().nonnegative(),
        StartInterval: z.number().int().nonnegative(),
        Retries: z.number().int().nonnegative(),
      })
      .partial()
      .strict(),
    ArgsEscaped: z.boolean(),
    OnBuild: strings.nullable(),
    Shell: strings,
  })
  .partial()
  .strict();

/** The user's container configuration (`Cmd`, `Env`, `ExposedPorts`, ...). */
export type ContainerConfig = z.infer<typeof ContainerConfigSchema>;

/** One `history` entry of an image config. */
export interface HistoryEntry {
  readonly created?: string;
  readonly created_by?: string;
  readonly comment?: string;
  readonly empty_layer?: boolean;
}

/** An image config (the JSON blob whose digest is the image ID). */
export interface ImageConfig {
  readonly created?: string;
  readonly architecture: string;
  readonly os: string;
  readonly config?: ContainerConfig;
  readonly rootfs: { readonly type: 'layers'; readonly diff_ids: readonly string[] };
  readonly history?: readonly HistoryEntry[];
}

/**
 * Validates untrusted container config JSON; unknown keys are rejected with the key named.
 * @example parseContainerConfig({ Cmd: ['/bin/hello'] }, 'spec.config')
 */
export function parseContainerConfig(value: unknown, field = 'config'): ContainerConfig {
  const result = ContainerConfigSchema.safeParse(value ?? {});
  if (!result.success) throw new ManifestError('INVALID_CONFIG', describeZodError(result.error, field), { cause: result.error });
  return result.data;
}

const GOARCH: Readonly<Record<string, string>> = { x64: 'amd64', ia32: '386', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64', loong64: 'loong64', mips: 'mips', mipsel: 'mipsle' };

/** The host's architecture in Go's GOARCH terms (`amd64`, `arm64`, ...), the default image architecture. */
export function hostArchitecture(): string {
  return GOARCH[arch] ?? arch;
}

/**
 * Normalises a `created` value: `"now"` becomes the current time, anything else must parse as an
 * ISO-8601 date; whole seconds are written without fractions (`1970-01-01T00:00:01Z`).
 */
export function normalizeCreated(created: string | Date = '1970-01-01T00:00:01Z', field = 'created'): string {
  const date = created === 'now' ? new Date() : created instanceof Date ? created : new Date(created);
  if (Number.isNaN(date.getTime())) throw new ManifestError('INVALID_OPTION', `${field}: not an ISO-8601 date or "now": ${String(created)}`);
  // RFC 3339 has four-digit years; toISOString would write "+033658-…", which podman refuses.
  const year = date.getUTCFullYear();
  if (year < 0 || year > 9999) throw new ManifestError('INVALID_OPTION', `${field}: the year must be from 0000 to 9999 (RFC 3339), got ${typeof created === 'string' ? created : date.toISOString()}`);
  return date.toISOString().replace(/\.000Z$/, 'Z');
}

/**
 * Merges environment lists as nixpkgs' streamLayeredImage does with a base image: one entry per
 * variable, the value of its last occurrence at the position of its first.
 * @example mergeEnv(['A=1', 'B=2'], ['A=3']) // ['A=3', 'B=2']
 */
export function mergeEnv(base: readonly string[], own: readonly string[]): string[] {
  const values = new Map<string, string>();
  for (const entry of [...base, ...own]) {
    const eq = entry.indexOf('=');
    values.set(eq === -1 ? entry : entry.slice(0, eq), entry);
  }
  return [...values.values()];
}

/** Options for {@link createImageConfig}. */
export interface CreateImageConfigOptions {
  /** `created` as ISO-8601 or `"now"`. @default '1970-01-01T00:00:01Z' */
  readonly created?: string | Date;
  /** GOARCH name. @default hostArchitecture() */
  readonly architecture?: string;
  /** The validated container config. @default {} */
  readonly config?: ContainerConfig;
  /** One history comment per layer, in layer order. @default none */
  readonly comments?: readonly string[];
}

/**
 * Builds an image config for `diffIds` (one `sha256:` digest per layer, in order), with one history
 * entry per layer. Keys are in a fixed order so the serialised bytes are reproducible.
 */
export function createImageConfig(diffIds: readonly string[], options: CreateImageConfigOptions = {}): ImageConfig {
  const created = normalizeCreated(options.created);
  return {
    created,
    architecture: options.architecture ?? hostArchitecture(),
    os: 'linux',
    config: options.config ?? {},
    rootfs: { type: 'layers', diff_ids: [...diffIds] },
    history: diffIds.map((_, i) => {
      const comment = options.comments?.[i];
      return comment === undefined ? { created } : { created, comment };
    }),
  };
}

/** The exact bytes strata writes for an image config (compact JSON, keys in insertion order). */
export function serializeImageConfig(config: ImageConfig): Buffer {
  return Buffer.from(JSON.stringify(config));
}
