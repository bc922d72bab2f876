import { createHash } from 'node:crypto';
import { type ClosureSource, collectClosure, type StorePath } from '@strata/closure';
import type { Image } from '@strata/image';
import type { ContainerConfig } from '@strata/manifest';
import { which } from './_which.js';
import { DockerToolsError } from './errors.js';
import type { ClosureOptions } from './options.js';

const STORE_REF = /\/nix\/store\/[0-9a-df-np-sv-z]{32}-[A-Za-z0-9+\-._?=]+/g;

/** Store paths a config mentions (`Cmd: ["/nix/store/…-hello/bin/hello"]`): they join the image closure, as in nixpkgs. */
export function configReferences(config: ContainerConfig): string[] {
  return [...new Set(JSON.stringify(config).match(STORE_REF) ?? [])];
}

function closureSource(o: ClosureOptions): ClosureSource {
  if (o.closureSource) return o.closureSource;
  if (o.referencesGraph) return 'graph';
  return which('nix') ? 'nix' : 'scan';
}

/**
 * True when the closure comes from a Nix database (live Nix): its paths are canonical (Nix fixes
 * their modes and owns them), so their NAR hashes say everything a layer tar holds.
 */
export function closureIsRegistered(o: ClosureOptions): boolean {
  const source = closureSource(o);
  return source === 'nix' || source === 'nix-store';
}

/** The closure of `roots`, from where the options say (a graph file, live Nix, or a scan). */
export async function closureOf(o: ClosureOptions, roots: readonly string[], signal?: AbortSignal): Promise<StorePath[]> {
  if (roots.length === 0) return [];
  return collectClosure(roots, {
    source: closureSource(o),
    ...(o.referencesGraph ? { graphFile: o.referencesGraph } : {}),
    ...(o.storeRoot ? { storeRoot: o.storeRoot } : {}),
    ...(o.closureCache ? { cache: o.closureCache } : {}),
    ...(signal ? { signal } : {}),
  });
}

/** What identifies a base image for a default tag: the digest of its config, which names every layer's diffID. */
export function baseIdentity(base: Image): string {
  const diffIds = base.layers.map((l, i) => {
    if (l.diffId === undefined) throw new DockerToolsError('INVALID_OPTION', `fromImage: layer ${i + 1} of the base image has no known diffID; read it from an archive or a registry`);
    return l.diffId;
  });
  return `sha256:${createHash('sha256').update(base.config(diffIds)).digest('hex')}`;
}

/** The base image's Env, from its config (all its diffIDs are known: it was read from a file or a registry). */
export function baseEnvOf(base: Image): readonly string[] {
  const config = JSON.parse(base.config(base.layers.map((l) => l.diffId ?? '')).toString('utf8')) as { config?: { Env?: unknown } | null };
  const env = config.config?.Env;
  return Array.isArray(env) ? env.filter((e): e is string => typeof e === 'string') : [];
}
