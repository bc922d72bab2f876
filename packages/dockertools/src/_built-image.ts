import type { Image, Layer } from '@strata/image';
import { type ContainerConfig, createImageConfig, type ImageConfigTemplate, imageConfigBytes, mergeEnv, repoTag } from '@strata/manifest';
import { checked } from './options.js';

/** A built image with nixpkgs' passthru names: what it is called and tagged. */
export interface BuiltImage extends Image {
  /** The name as given (nixpkgs' `imageName`). */
  readonly imageName: string;
  /** The tag, given or derived from the inputs (nixpkgs' `imageTag`). */
  readonly imageTag: string;
}

/** What the config of a built image says besides its layers' diffIDs. */
export interface TemplateInput {
  readonly created: string;
  readonly architecture?: string;
  readonly config: ContainerConfig;
  /** The base image's Env: the config's own Env is merged over it. */
  readonly baseEnv: readonly string[];
  /** One history comment per layer. */
  readonly comments: readonly string[];
}

/** The image config without its diffIDs: the base image's Env merged under the config's own (by name, the last value winning, as nixpkgs' stream script does). */
export function imageTemplate(input: TemplateInput): ImageConfigTemplate {
  const env = mergeEnv(input.baseEnv, input.config.Env ?? []);
  const config = env.length > 0 ? { ...input.config, Env: env } : input.config;
  const { rootfs: _, ...template } = createImageConfig(
    input.comments.map(() => ''),
    { created: input.created, config, comments: input.comments, ...(input.architecture ? { architecture: input.architecture } : {}) },
  );
  return template;
}

/** The lazy image a builder returns; `dispose` runs once, however often it is called. */
export function builtImage(parts: {
  readonly name: string;
  readonly tag: string;
  readonly template: ImageConfigTemplate;
  readonly layers: readonly Layer[];
  readonly mtime: number;
  readonly dispose: () => Promise<void>;
}): BuiltImage {
  let disposed: Promise<void> | undefined;
  return {
    imageName: parts.name,
    imageTag: parts.tag,
    repoTags: [checked(() => repoTag(parts.name, parts.tag))],
    platform: { os: 'linux', architecture: parts.template.architecture },
    layers: parts.layers,
    mtime: parts.mtime,
    config: (diffIds) => imageConfigBytes(parts.template, diffIds),
    dispose: () => {
      disposed ??= parts.dispose();
      return disposed;
    },
  };
}
