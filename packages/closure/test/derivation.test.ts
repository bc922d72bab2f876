import { readFile } from 'node:fs/promises';
import { hasPeers, instantiateNix, run } from '@strata/test-utils';
import { beforeAll, describe, expect, it } from 'vitest';
import { type Derivation, readDerivation } from '../src/index.js';

const FEATURES = ['ca-derivations', 'impure-derivations'];

// Derivations whose files hold everything the ATerm has to escape, and every kind of output.
const TRICKY_DERIVATIONS = `let
  sys = builtins.currentSystem;
  dep = derivation { name = "dep"; system = sys; builder = "/bin/sh"; outputs = [ "out" "lib" ]; args = [ "-c" "echo > $out; echo > $lib" ]; };
  ctl = builtins.fromJSON ''"\\u0001\\u001b[0m\\u007f \\u00e9 \\ud83d\\ude00 \\u2028"'';
in [
  (derivation {
    name = "tricky"; system = sys; builder = "/bin/sh";
    outputs = [ "out" "dev" "doc" ];
    args = [ "-c" "echo \\"$weird\\" > $out; mkdir $dev $doc" "" "a'b\\"c\\\\d" ];
    weird = "line1\\nline2\\ttab\\rcr \\\\back\\\\slash \\"quoted\\" \\\${notinterp} \${ctl}";
    passAsFile = [ "weird" "other" ];
    other = "x";
    inherit (dep) lib;
    depOut = dep;
    text = builtins.toFile "note.txt" "hello";
    drvRef = dep.drvPath;
    empty = "";
    list = [ 1 "two" null true false ];
  })
  (derivation {
    name = "structured"; system = sys; builder = "/bin/sh"; __structuredAttrs = true;
    args = [ "-c" "true" ]; nested = { a = [ 1 2 { b = "c\\nd"; } ]; }; inherit dep;
  })
  (derivation { name = "fixed-flat"; system = sys; builder = "/bin/sh"; args = [ "-c" "printf x > $out" ];
    outputHashMode = "flat"; outputHashAlgo = "sha256"; outputHash = builtins.hashString "sha256" "x"; })
  (derivation { name = "fixed-rec"; system = sys; builder = "/bin/sh"; args = [];
    outputHashMode = "recursive"; outputHashAlgo = "sha512"; outputHash = builtins.hashString "sha512" "y"; })
  (derivation { name = "floating"; system = sys; builder = "/bin/sh"; args = [ "-c" "printf x > $out" ];
    __contentAddressed = true; outputHashMode = "recursive"; outputHashAlgo = "sha256"; })
  (derivation { name = "impure"; system = sys; builder = "/bin/sh"; args = [ "-c" "printf x > $out" ]; __impure = true; })
]`;

interface ShownDerivation {
  outputs: Record<string, { path?: string; hashAlgo?: string; hash?: string; impure?: boolean }>;
  inputSrcs: string[];
  inputDrvs: Record<string, string[]>;
  system: string;
  builder: string;
  args: string[];
  env: Record<string, string>;
}

/** `nix show-derivation --recursive`: every .drv in the closure of `drvs`, as Nix parses it. */
async function showDerivations(drvs: readonly string[]): Promise<Record<string, ShownDerivation>> {
  const features = ['nix-command', ...FEATURES].join(' ');
  const { stdout } = await run('nix', ['show-derivation', '--recursive', '--extra-experimental-features', features, ...drvs]);
  return JSON.parse(stdout) as Record<string, ShownDerivation>;
}

/** Nix 2.8 shows an impure output as `impure: true`; the file (and strata) say `hash: "impure"`. */
function asShown(drv: Derivation): ShownDerivation {
  const outputs = Object.fromEntries(
    Object.entries(drv.outputs).map(([name, o]) => [name, o.hash === 'impure' ? { hashAlgo: o.hashAlgo, impure: true } : { ...o }]),
  );
  const { system, builder, args, inputSrcs } = drv;
  return { outputs, inputSrcs: [...inputSrcs], inputDrvs: { ...drv.inputDrvs } as Record<string, string[]>, system, builder, args: [...args], env: { ...drv.env } };
}

describe.runIf(hasPeers('nix-instantiate', 'nix'))('parseDerivation on files written by the real Nix', () => {
  let shown: Record<string, ShownDerivation>;
  beforeAll(async () => {
    const drvs = await instantiateNix(TRICKY_DERIVATIONS, { experimentalFeatures: FEATURES });
    expect(drvs).toHaveLength(6);
    shown = await showDerivations(drvs);
  });

  it('reads every derivation as nix show-derivation shows it', async () => {
    const paths = Object.keys(shown);
    expect(paths.length).toBeGreaterThanOrEqual(7); // the six and their input `dep`
    for (const path of paths) {
      const drv = await readDerivation(path);
      expect(asShown(drv), path).toEqual(shown[path]);
      expect(drv.path).toBe(path);
      expect(drv.name).toBe(path.slice(44, -4));
    }
  });

  it('keeps the bytes Nix escaped and the ones it did not (control characters, non-ASCII)', async () => {
    const tricky = Object.keys(shown).find((p) => p.endsWith('-tricky.drv'))!;
    const drv = await readDerivation(tricky);
    expect(drv.env.weird).toBe('line1\nline2\ttab\rcr \\back\\slash "quoted" $' + '{notinterp} \u0001\u001b[0m\u007f é 😀 \u2028');
    expect(drv.args).toEqual(['-c', 'echo "$weird" > $out; mkdir $dev $doc', '', 'a\'b"c\\d']);
    // The file itself holds the control characters raw: only \\ " \n \r \t are escaped.
    const text = await readFile(tricky, 'latin1');
    expect(text).toContain('\\r');
    expect(text).toContain('\u0001');
  });
});
