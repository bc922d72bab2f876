import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import { ClosureError, compareStrings, type Derivation, readDerivation, toStorePath } from '@strata/closure';
import { escapeShellArg } from './_shell-quote.js';
import { type MissingInput, MissingInputsError, NixShellError } from './errors.js';

/** Options for {@link resolveShellInputs}. */
export interface ResolveShellInputsOptions {
  /** The shell (a file in the store); its store path joins the roots. */
  readonly shell: string;
  /** A CA certificates store path, joining the roots when given. */
  readonly cacert?: string;
  /** A chroot store (see `NixShellImageOptions.storeRoot`). @default '' */
  readonly storeRoot?: string;
}

interface Needed {
  readonly path: string;
  readonly role: string;
  /** What `nix-store --realise` gets to produce the path: its derivation, or the path itself. */
  readonly realise: string;
}

async function exists(storeRoot: string, path: string): Promise<boolean> {
  try {
    await lstat(join(storeRoot, path));
    return true;
  } catch {
    return false;
  }
}

/** The outputs `drv` uses of each input derivation, with the .drv files that cannot be read. */
async function inputOutputs(drv: Derivation, storeRoot: string): Promise<Needed[]> {
  if (drv.dynamicInputDrvs) {
    throw new NixShellError('UNSUPPORTED', `${drv.path ?? drv.name}: inputs that are outputs of derivations built by other derivations (dynamic derivations) need Nix to resolve them`);
  }
  const needed: Needed[] = [];
  for (const [inputDrv, outputs] of Object.entries(drv.inputDrvs)) {
    let input: Derivation;
    try {
      input = await readDerivation(inputDrv, storeRoot ? { storeRoot } : {});
    } catch (error) {
      if (!(error instanceof ClosureError) || error.code !== 'NOT_FOUND') throw error;
      needed.push({ path: inputDrv, role: 'an input derivation, not in the store: instantiate the expression again', realise: inputDrv });
      continue;
    }
    for (const output of outputs) {
      if (!Object.hasOwn(input.outputs, output)) throw new NixShellError('UNSUPPORTED', `${inputDrv} has no output "${output}", which ${drv.path ?? drv.name} uses`);
      const path = input.outputs[output]!.path;
      if (path === undefined) {
        throw new NixShellError('UNSUPPORTED', `output "${output}" of ${inputDrv} has no path before it is built (a content-addressed derivation): only Nix can resolve it`);
      }
      needed.push({ path, role: `output ${output} of ${inputDrv}`, realise: inputDrv });
    }
  }
  return needed;
}

/**
 * The store paths a nix-shell image of `drv` starts its closure from: its input sources, the
 * outputs of its input derivations it uses (read from their .drv files), the shell's and the CA
 * certificates' store paths. Sorted. Throws a {@link MissingInputsError} naming every one that is
 * not in the store and the `nix-store --realise` command that puts it there.
 */
export async function resolveShellInputs(drv: Derivation, options: ResolveShellInputsOptions): Promise<string[]> {
  const storeRoot = options.storeRoot ?? '';
  const needed: Needed[] = [
    ...drv.inputSrcs.map((path) => ({ path, role: 'an input source', realise: path })),
    ...(await inputOutputs(drv, storeRoot)),
  ];
  const shellPath = toStorePath(options.shell)!;
  needed.push({ path: shellPath, role: 'the shell', realise: shellPath });
  if (options.cacert) needed.push({ path: options.cacert, role: 'the CA certificates', realise: options.cacert });

  const missing: Needed[] = [];
  for (const n of needed) if (!(await exists(storeRoot, n.path))) missing.push(n);
  if (missing.length > 0) throw missingInputs(drv, missing, storeRoot);
  if (!(await exists(storeRoot, options.shell))) {
    throw new NixShellError('INVALID_OPTION', `shell: ${options.shell} does not exist in ${shellPath}`);
  }
  return [...new Set(needed.map((n) => n.path))].sort(compareStrings);
}

function missingInputs(drv: Derivation, missing: readonly Needed[], storeRoot: string): MissingInputsError {
  const realise = (paths: readonly string[]) =>
    ['nix-store', ...(storeRoot ? ['--store', escapeShellArg(`local?root=${storeRoot}`)] : []), '--realise', ...paths].join(' ');
  const list: MissingInput[] = missing.map((m) => ({ path: m.path, role: m.role, command: realise([m.realise]) }));
  const command = realise([...new Set(missing.map((m) => m.realise))]);
  const where = storeRoot ? `the store ${join(storeRoot, '/nix/store')}` : 'the store';
  const lines = list.map((m) => `  ${m.path} (${m.role})`).join('\n');
  return new MissingInputsError(
    `${list.length} input${list.length === 1 ? '' : 's'} of ${drv.path ?? drv.name} ${list.length === 1 ? 'is' : 'are'} not in ${where}:\n${lines}\nrealise them with: ${command}`,
    list,
    command,
  );
}
