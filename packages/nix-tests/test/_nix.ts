import { randomBytes } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type ExecResult, makeTempDir, NIX_OPTIONS, repoRoot, run, runNixBuild, type TempDir } from '@strata/test-utils';

/** A Nix path value for an absolute file name, whatever characters the name holds (a clone may be anywhere). */
export function nixPath(path: string): string {
  return `(/. + ${nixString(path)})`;
}

/** The library under test, as a Nix path: nix/ of this checkout (its default strata is this checkout, built). */
export const NIX_LIBRARY = nixPath(join(repoRoot(), 'nix'));

/** nix/strata.nix of this checkout, as a Nix path. */
export const NIX_STRATA = nixPath(join(repoRoot(), 'nix/strata.nix'));

/** A fresh word for image names: podman storage and the Nix store are shared with other test runs. */
export function nonce(): string {
  return randomBytes(4).toString('hex');
}

/** Escapes text for a Nix double-quoted string. */
export function nixString(text: string): string {
  return `"${text.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('${', '\\${')}"`;
}

/** A Nix expression file in a temporary directory: evaluate attributes of it, build them, remove it. */
export interface ExpressionFile {
  readonly path: string;
  /** `nix-instantiate --eval --strict --json -A attr` ('' for the whole expression). */
  eval<T>(attr: string): Promise<T>;
  /** The output paths of derivation attributes, in one evaluation, without building anything. */
  outPaths(...attrs: string[]): Promise<string[]>;
  /** `nix-build -A attr...`: the output path of each attribute, by attribute. */
  build(...attrs: string[]): Promise<Record<string, string>>;
  /**
   * `nix-build -A attr`, never throwing: what it printed and its exit code (for builds that must
   * fail; `remove` then removes the lock file Nix leaves for the failed output).
   */
  tryBuild(attr: string): Promise<ExecResult>;
  remove(): Promise<void>;
}

/**
 * Writes `expression` (a Nix attribute set) to a file to evaluate and build attributes of;
 * `buildOptions` go to every nix-build (`--option filter-syscalls false`).
 */
export async function expressionFile(expression: string, buildOptions: readonly string[] = []): Promise<ExpressionFile> {
  const dir: TempDir = await makeTempDir('strata-nixlib-');
  const path = join(dir.path, 'default.nix');
  await writeFile(path, expression);
  const failed: string[] = [];
  // '' is the whole expression (nix-build -A '' would select it too; this reads better in logs).
  const select = (attr: string) => (attr === '' ? [] : ['-A', attr]);
  const evalJson = async <T>(attr: string): Promise<T> => {
    const { stdout } = await run('nix-instantiate', [...NIX_OPTIONS, '--eval', '--strict', '--json', path, ...select(attr)]);
    return JSON.parse(stdout) as T;
  };
  const outPaths = async (...attrs: string[]): Promise<string[]> => {
    const list = attrs.map((a) => (a === '' ? 'e.outPath' : `e.${a}.outPath`)).join(' ');
    const { stdout } = await run('nix-instantiate', [...NIX_OPTIONS, '--eval', '--strict', '--json', '-E', `let e = import ${path}; in [ ${list} ]`]);
    return JSON.parse(stdout) as string[];
  };
  return {
    path,
    eval: evalJson,
    outPaths,
    async build(...attrs) {
      // The output paths come from evaluation, so the mapping never depends on nix-build's printing.
      const paths = await outPaths(...attrs);
      await runNixBuild([...NIX_OPTIONS, ...buildOptions, '--no-out-link', path, ...attrs.flatMap(select)]);
      return Object.fromEntries(attrs.map((a, i) => [a, paths[i]!]));
    },
    async tryBuild(attr) {
      const result = await runNixBuild([...NIX_OPTIONS, ...buildOptions, '--no-out-link', path, ...select(attr)], { allowFailure: true });
      if (result.exitCode !== 0) failed.push(await evalJson<string>(attr === '' ? 'outPath' : `${attr}.outPath`));
      return result;
    },
    async remove() {
      // Nix leaves the lock file of an output whose build failed; these outputs are this file's own.
      for (const out of failed) await rm(`${out}.lock`, { force: true });
      await dir.remove();
    },
  };
}

/** Evaluates a Nix expression given as text, never throwing: its JSON output or the error. */
export function tryEval(expression: string): Promise<ExecResult> {
  return run('nix-instantiate', [...NIX_OPTIONS, '--eval', '--strict', '--json', '-E', expression], { allowFailure: true });
}

/**
 * Deletes what a test built from the store: the given paths (image outputs, their confs) and every
 * path in their closures whose name carries `mark` (closure roots, helpers). A path still alive
 * (another run holds it) stays.
 */
export async function deleteStorePaths(paths: readonly string[], mark: string): Promise<void> {
  const valid = async (p: string) => (await run('nix-store', ['--check-validity', p], { allowFailure: true })).exitCode === 0;
  const existing: string[] = [];
  for (const p of paths) if (await valid(p)) existing.push(p);
  if (existing.length === 0) return;
  const { stdout } = await run('nix-store', ['-qR', ...existing], { allowFailure: true });
  let left = [...new Set([...existing, ...stdout.split('\n').filter((p) => p.includes(mark))])];
  // Referrers must go first; the order is not known, so delete what can be deleted until nothing changes.
  for (let progress = true; progress && left.length > 0; ) {
    progress = false;
    for (const p of left) {
      if ((await run('nix-store', ['--delete', p], { allowFailure: true })).exitCode === 0) progress = true;
    }
    const still: string[] = [];
    for (const p of left) if (await valid(p)) still.push(p);
    left = still;
  }
}
