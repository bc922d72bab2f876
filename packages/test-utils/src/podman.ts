import { run, type ExecResult } from './exec.js';

/** The global flags podman needs on these machines (see shared/PEERS.md): cgroupfs and runc. */
export const PODMAN_GLOBAL = ['--cgroup-manager=cgroupfs'] as const;

/** The `run` flags podman needs here: no network, ulimits under the hard limits. */
export const PODMAN_RUN = [
  '--rm',
  '--runtime',
  'runc',
  '--network=none',
  '--ulimit',
  'nofile=20000:20000',
  '--ulimit',
  'nproc=1000:1000',
] as const;

/** Loads an image archive (docker-archive or OCI archive) with `podman load` and returns the image id. */
export async function podmanLoad(archive: string): Promise<string> {
  const { stdout } = await run('podman', [...PODMAN_GLOBAL, 'load', '-q', '-i', archive]);
  // podman prints "Loaded image: NAME" or "Loaded image(s): NAME"
  const match = /Loaded image(?:\(s\))?:\s*(\S+)/.exec(stdout);
  if (!match?.[1]) throw new Error(`podman load printed no image name:\n${stdout}`);
  return match[1];
}

/** Options for {@link podmanRun}. */
export interface PodmanRunOptions {
  /** `--user` value, e.g. `1000:1000`. */
  readonly user?: string;
  /** `--volume` values, e.g. `/nix/store:/nix/store:ro`. */
  readonly volumes?: readonly string[];
  /** `--entrypoint` override. */
  readonly entrypoint?: string;
}

/** Runs a container from `image` and returns what it printed and its exit code (never throws on exit codes). */
export async function podmanRun(image: string, command: readonly string[] = [], options: PodmanRunOptions = {}): Promise<ExecResult> {
  const args: string[] = [...PODMAN_GLOBAL, 'run', ...PODMAN_RUN];
  if (options.user) args.push('--user', options.user);
  for (const v of options.volumes ?? []) args.push('--volume', v);
  if (options.entrypoint !== undefined) args.push('--entrypoint', options.entrypoint);
  args.push(image, ...command);
  return run('podman', args, { allowFailure: true });
}

/** `podman image inspect` parsed. */
export async function podmanInspect(image: string): Promise<Record<string, unknown>> {
  const { stdout } = await run('podman', [...PODMAN_GLOBAL, 'image', 'inspect', image]);
  const [first] = JSON.parse(stdout) as Record<string, unknown>[];
  if (!first) throw new Error(`podman image inspect ${image}: no result`);
  return first;
}

/** Removes an image from podman's storage, ignoring one that is gone. */
export async function podmanRemove(image: string): Promise<void> {
  await run('podman', [...PODMAN_GLOBAL, 'rmi', '-f', image], { allowFailure: true });
}
