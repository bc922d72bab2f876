import { spawn } from 'node:child_process';
import { z } from 'zod';
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

/** Asks a live Nix for the closure of `roots` with `nix path-info --json --recursive`. */
export async function queryPathInfo(
  roots: readonly string[],
  options: { storeRoot?: string; exec?: ExecFunction; signal?: AbortSignal } = {},
): Promise<StorePath[]> {
  const exec = options.exec ?? execProgram;
  const args = ['path-info', '--json', '--recursive', '--extra-experimental-features', 'nix-command', ...storeArgs(options.storeRoot), ...roots];
  return parsePathInfoJson(await exec('nix', args, options.signal));
}

/** Asks a live Nix for the closure of `roots` with `nix-store --query --requisites` and `--dump-db`. */
export async function queryNixStore(
  roots: readonly string[],
  options: { storeRoot?: string; exec?: ExecFunction; signal?: AbortSignal } = {},
): Promise<StorePath[]> {
  const exec = options.exec ?? execProgram;
  const store = storeArgs(options.storeRoot);
  const requisites = (await exec('nix-store', [...store, '--query', '--requisites', ...roots], options.signal))
    .split('\n')
    .filter(Boolean);
  return parseRegistration(await exec('nix-store', [...store, '--dump-db', ...requisites], options.signal), 'nix-store --dump-db');
}
