import { spawn } from 'node:child_process';
import * as z from 'zod';
import { batchArguments, DEFAULT_MAX_ARG_BYTES } from './_batch.js';
import { isDerivationPath } from './derivation.js';
import { ClosureError } from './errors.js';
import { parseJsonInput } from './_input.js';
import { normaliseNarHash } from './nix-hash.js';
import { parseRegistration } from './registration.js';
import { compareStrings, type StorePath } from './store-path.js';

/** Runs a program and returns its stdout; injectable so unit tests need no Nix. */
export type ExecFunction = (program: string, args: readonly string[], signal?: AbortSignal) => Promise<string>;

/** Runs a program with child_process.spawn, rejecting with its stderr on a non-zero exit. */
export const execProgram: ExecFunction = (program, args, signal) =>
  new Promise((resolve, reject) => {
    const child = spawn(program, args, { stdio: ['ignore', 'pipe', 'pipe'], ...(signal ? { signal } : {}) });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', (error) => reject(new ClosureError('NIX_FAILED', `cannot run ${program}: ${error.message}`, { cause: error })));
    child.on('close', (code) => {
      if (code === 0) resolve(Buffer.concat(out).toString('utf8'));
      else {
        const stderr = Buffer.concat(err).toString('utf8').trim();
        reject(new ClosureError('NIX_FAILED', `${program} ${args.join(' ')} exited ${code}: ${stderr}`));
      }
    });
  });

const info = z.looseObject({
  narHash: z.string(),
  narSize: z.number().int().nonnegative(),
  references: z.array(z.string()),
  deriver: z.string().nullable().optional(),
});
// nix 2.8-2.18 print an array of {path, ...}; newer nix an object keyed by path (null for invalid paths).
const pathInfoArray = z.array(info.extend({ path: z.string(), valid: z.boolean().optional() }));
const pathInfoObject = z.record(z.string(), info.nullable());

function storeArgs(storeRoot: string | undefined): string[] {
  return storeRoot ? ['--store', `local?root=${storeRoot}`] : [];
}

/** Parses the JSON of `nix path-info --json --recursive`, in both the array and the object shape. */
export function parsePathInfoJson(text: string, where = 'nix path-info'): StorePath[] {
  const data = parseJsonInput(text, where, pathInfoArray, pathInfoObject);
  const entries = Array.isArray(data)
    ? data.map((e) => [e.path, e.valid === false ? null : e] as const)
    : Object.entries(data);
  return entries.map(([path, e]) => {
    if (!e) throw new ClosureError('NOT_FOUND', `${where}: ${path} is not a valid path in the store`);
    return {
      path,
      narSize: e.narSize,
      narHash: normaliseNarHash(e.narHash, `${where}: ${path}`),
      references: [...new Set(e.references)].sort(compareStrings),
      ...(e.deriver ? { deriver: e.deriver } : {}),
    };
  });
}

/** Options for {@link queryPathInfo} and {@link queryNixStore}. */
export interface LiveNixOptions {
  /** A chroot store (`--store local?root=DIR`). @default the real /nix/store */
  readonly storeRoot?: string;
  /** Runs nix / nix-store; injectable for tests. @default child_process.spawn */
  readonly exec?: ExecFunction;
  /**
   * The most bytes of arguments one command gets (each argument counts its bytes, a NUL and a
   * pointer); longer lists of paths are split over several commands, so no closure reaches the
   * kernel's ARG_MAX. @default 262144
   */
  readonly maxArgBytes?: number;
  readonly signal?: AbortSignal;
}

/** Runs `program fixed... batch...` for each batch of `items` that fits one command line. */
async function execBatched(program: string, fixed: readonly string[], items: readonly string[], options: LiveNixOptions): Promise<string[]> {
  const exec = options.exec ?? execProgram;
  const outputs: string[] = [];
  for (const batch of batchArguments(items, [program, ...fixed], options.maxArgBytes ?? DEFAULT_MAX_ARG_BYTES)) {
    outputs.push(await exec(program, [...fixed, ...batch], options.signal));
  }
  return outputs;
}

/**
 * Asks a live Nix for the closure of `roots` with `nix path-info --json --recursive`. A `.drv`
 * root is the derivation file itself (with `--derivation`: without it, Nix 2.8 would answer for
 * the derivation's outputs), so its closure is what `nix-store -qR X.drv` prints.
 */
export async function queryPathInfo(roots: readonly string[], options: LiveNixOptions = {}): Promise<StorePath[]> {
  const base = ['path-info', '--json', '--recursive', '--extra-experimental-features', 'nix-command', ...storeArgs(options.storeRoot)];
  const drvRoots = roots.filter(isDerivationPath);
  const otherRoots = roots.filter((r) => !isDerivationPath(r));
  const texts = [
    ...(otherRoots.length > 0 ? await execBatched('nix', base, otherRoots, options) : []),
    ...(drvRoots.length > 0 ? await execBatched('nix', [...base, '--derivation'], drvRoots, options) : []),
  ];
  return texts.flatMap((text) => parsePathInfoJson(text));
}

/**
 * Asks a live Nix for the closure of `roots` with `nix-store --query --requisites` and
 * `--dump-db`, as many commands as the paths need (see `maxArgBytes`).
 */
export async function queryNixStore(roots: readonly string[], options: LiveNixOptions = {}): Promise<StorePath[]> {
  const store = storeArgs(options.storeRoot);
  const requisites = new Set<string>();
  for (const text of await execBatched('nix-store', [...store, '--query', '--requisites'], roots, options)) {
    for (const line of text.split('\n')) if (line) requisites.add(line);
  }
  const dumps = await execBatched('nix-store', [...store, '--dump-db'], [...requisites], options);
  return dumps.flatMap((text) => parseRegistration(text, 'nix-store --dump-db'));
}
