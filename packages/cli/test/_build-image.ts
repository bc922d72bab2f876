import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { buildNix, type HelloClosure, podmanLoad, runStrata } from '@strata/test-utils';
import { expect } from 'vitest';

/**
 * Fixtures: a busybox that refers to its own store path (as bash does), buildEnv-like roots whose
 * `bin` links to one package's bin directory, a CA bundle package as nixpkgs' caCertificates is
 * made, and the host's Nix (Debian's nix-bin) as a store path with its libraries, so an image can
 * run `nix-store`.
 */
const FIXTURES = (hello: HelloClosure) => `let
  sh = name: script: derivation { inherit name; system = builtins.currentSystem; builder = "/bin/sh"; PATH = "/usr/bin:/bin"; args = [ "-c" script ]; };
  hello = builtins.storePath "${hello.hello}";
  busybox = sh "busybox-selfref" "mkdir -p $out/bin && cp /bin/busybox $out/bin/busybox && ln -s $out/bin/busybox $out/bin/sh";
  cacert = sh "cacert" "mkdir -p $out/etc/ssl/certs && printf -- '-----BEGIN CERTIFICATE-----\\\\nstrata\\\\n-----END CERTIFICATE-----\\\\n' > $out/etc/ssl/certs/ca-bundle.crt";
  nix = sh "nix-debian" ''
    mkdir -p $out/bin $out/lib $out/libexec
    cp /usr/bin/nix $out/libexec/nix
    for lib in $(ldd /usr/bin/nix | awk '/=>/ {print $3}'); do cp -L $lib $out/lib/; done
    cp -L /lib64/ld-linux-x86-64.so.2 $out/lib/
    printf '#!%s/bin/sh\\nexec %s/lib/ld-linux-x86-64.so.2 --library-path %s/lib --argv0 "$0" %s/libexec/nix "$@"\\n' ${'$'}{busybox} $out $out $out > $out/bin/nix
    chmod 555 $out/bin/nix
    ln -s nix $out/bin/nix-store
    ln -s nix $out/bin/nix-daemon
  '';
in {
  root = sh "image-root" "mkdir $out && ln -s ${'$'}{busybox}/bin $out/bin";
  helloRoot = sh "hello-root" "mkdir $out && ln -s ${'$'}{hello}/bin $out/bin";
  certs = sh "ca-certificates" ''
    mkdir -p $out/etc/ssl/certs $out/etc/pki/tls/certs
    ln -s ${'$'}{cacert}/etc/ssl/certs/ca-bundle.crt $out/etc/ssl/certs/ca-bundle.crt
    ln -s ${'$'}{cacert}/etc/ssl/certs/ca-bundle.crt $out/etc/ssl/certs/ca-certificates.crt
    ln -s ${'$'}{cacert}/etc/ssl/certs/ca-bundle.crt $out/etc/pki/tls/certs/ca-bundle.crt
  '';
  nixRoot = sh "nix-image-root" "mkdir -p $out/bin && for f in ${'$'}{nix}/bin/* ${'$'}{busybox}/bin/*; do ln -s $f $out/bin/; done";
  inherit nix busybox;
}`;

/** Store paths of the fixtures. */
export type Fixtures = Record<'root' | 'helloRoot' | 'certs' | 'nixRoot' | 'nix' | 'busybox', string>;

/** Builds the fixtures with real Nix (cached in the store after the first run). */
export async function buildFixtures(hello: HelloClosure): Promise<Fixtures> {
  const expr = FIXTURES(hello);
  const keys = ['root', 'helloRoot', 'certs', 'nixRoot', 'nix', 'busybox'] as const;
  const built = await Promise.all(keys.map(async (attr) => [attr, (await buildNix(expr, { attr }))[0]!] as const));
  return Object.fromEntries(built) as Fixtures;
}

/** What {@link buildWithCli} made. */
export interface CliBuilt {
  readonly archive: string;
  readonly stderr: string;
  /** The name podman loaded it as ('' when not loaded). */
  readonly image: string;
}

/**
 * Runs `strata build-image ARGS --compressor none -o FILE` (a fresh file in `dir`), expects it to
 * succeed with nothing on stdout, and loads the archive into podman (recording the name in `loaded`,
 * for removal) unless `load` is false.
 */
export async function buildWithCli(dir: string, loaded: string[], args: readonly string[], options: { load?: boolean; compressor?: string } = {}): Promise<CliBuilt> {
  const archive = join(dir, `image-${randomBytes(4).toString('hex')}.tar`);
  const result = await runStrata(['build-image', ...args, '--compressor', options.compressor ?? 'none', '-o', archive]);
  expect(result.exitCode, result.stderr).toBe(0);
  expect(result.stdout).toBe('');
  let image = '';
  if (options.load !== false) {
    image = await podmanLoad(archive);
    loaded.push(image);
  }
  return { archive, stderr: result.stderr, image };
}
