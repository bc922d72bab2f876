import { type Derivation, DEFAULT_STORE_DIR } from '@strata/closure';
import { compareBytes } from './_shell-quote.js';

/** Where Nix builds in its sandbox, and where a nix-shell image's build directory is. */
export const SANDBOX_BUILD_DIR = '/build';

/** What {@link nixShellEnv} needs besides the derivation. */
export interface NixShellEnvOptions {
  readonly homeDirectory: string;
  /** `PATH`: the shell's directory and buildDerivation's `bin` (the derivation may override it). */
  readonly staticPath: string;
  /** A CA certificates package; without it no SSL variables are set. */
  readonly cacert?: string;
  /** The file holding each `passAsFile` variable (variable name → path). */
  readonly passAsFilePaths: ReadonlyMap<string, string>;
}

/** The variables a derivation passes as files (`passAsFile`, written space-separated into its env). */
export function passAsFileNames(drv: Derivation): string[] {
  return (drv.env.passAsFile ?? '').split(/[ \t\n\r]+/).filter(Boolean);
}

/**
 * The environment of a nix-shell image as `NAME=value` lines sorted by name, as nixpkgs'
 * `streamNixShellImage` sets it: HOME, NIX_BUILD_CORES, NIX_STORE, PATH (and the SSL variables with
 * a `cacert`), overridden by the derivation's variables (each `passAsFile` variable `x` becomes
 * `xPath`, the path of a file holding it), overridden by each output's path, overridden by the
 * sandbox's NIX_BUILD_TOP, PWD, TMP, TMPDIR, TEMP, TEMPDIR (all `/build`) and TERM.
 */
export function nixShellEnv(drv: Derivation, options: NixShellEnvOptions): string[] {
  const env = new Map<string, string>([
    ['HOME', options.homeDirectory],
    ['NIX_BUILD_CORES', '1'],
    ['NIX_STORE', DEFAULT_STORE_DIR],
    ['PATH', options.staticPath],
  ]);
  if (options.cacert !== undefined) {
    const bundle = `${options.cacert}/etc/ssl/certs/ca-bundle.crt`;
    env.set('NIX_SSL_CERT_FILE', bundle).set('SSL_CERT_FILE', bundle);
  }
  const passAsFile = new Set(passAsFileNames(drv));
  // nixpkgs builds these with mapAttrs' (listToAttrs in name order): when `x` passed as a file and
  // a variable `xPath` collide, the first in name order, `x`'s file, wins.
  const fromDerivation = new Map<string, string>();
  for (const name of Object.keys(drv.env).sort(compareBytes)) {
    const [key, value] = passAsFile.has(name) ? [`${name}Path`, options.passAsFilePaths.get(name)!] : [name, drv.env[name]!];
    if (!fromDerivation.has(key)) fromDerivation.set(key, value);
  }
  for (const [key, value] of fromDerivation) env.set(key, value);
  // An output whose path is not known before building (content-addressed) keeps the placeholder
  // the derivation's own variable holds.
  for (const [output, { path }] of Object.entries(drv.outputs)) if (path !== undefined) env.set(output, path);
  for (const name of ['NIX_BUILD_TOP', 'PWD', 'TEMP', 'TEMPDIR', 'TMP', 'TMPDIR']) env.set(name, SANDBOX_BUILD_DIR);
  env.set('TERM', 'xterm-256color');
  return [...env.keys()].sort(compareBytes).map((name) => `${name}=${env.get(name)!}`);
}
