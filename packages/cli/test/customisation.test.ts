import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  buildHelloClosure,
  buildNix,
  type HelloClosure,
  hasPeers,
  makeTempDir,
  podmanLoad,
  podmanRemove,
  podmanRun,
  run,
  runStrata,
  type TempDir,
  unpackImage,
} from '@strata/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uniqueImageName } from './_layered.js';

// Ports of nixpkgs' docker-tools acceptance cases for the customisation layer (reference §8),
// run for real: strata builds the image, podman loads and runs it.

const EXTRAS = (hello: HelloClosure) => `let
  sh = name: script: derivation { inherit name; system = builtins.currentSystem; builder = "/bin/sh"; PATH = "/usr/bin:/bin"; args = [ "-c" script ]; };
in {
  # a store path that is itself a symlink (nixpkgs' layeredStoreSymlink)
  symlink = sh "store-symlink" "ln -s ${'$'}{builtins.storePath "${hello.greeting}"} $out";
  # busybox whose applet links are absolute, so a copy of bin/ refers to this store path
  selfRefBusybox = sh "busybox-selfref" "mkdir -p $out/bin && cp /bin/busybox $out/bin/busybox && ln -s $out/bin/busybox $out/bin/ls && ln -s $out/bin/busybox $out/bin/sh";
  # a shell provider for binSh that is not busybox's own bin/sh link
  nested = sh "shell-provider" "mkdir -p $out/bin && ln -s ${'$'}{builtins.storePath "${hello.busybox}"}/bin/busybox $out/bin/bash";
}`;

describe.runIf(hasPeers('nix-build', 'podman', 'skopeo', 'umoci', 'fakeroot', 'proot'))('the customisation layer, as nixpkgs tests it', () => {
  let hello: HelloClosure;
  let extras: { symlink: string; selfRefBusybox: string; nested: string };
  let dir: TempDir;
  const loaded: string[] = [];

  beforeAll(async () => {
    hello = await buildHelloClosure();
    const expr = EXTRAS(hello);
    const [symlink] = await buildNix(expr, { attr: 'symlink' });
    const [selfRefBusybox] = await buildNix(expr, { attr: 'selfRefBusybox' });
    const [nested] = await buildNix(expr, { attr: 'nested' });
    extras = { symlink: symlink!, selfRefBusybox: selfRefBusybox!, nested: nested! };
    dir = await makeTempDir();
  });
  afterAll(async () => {
    for (const image of loaded) await podmanRemove(image);
    await dir.remove();
  });

  /** Builds an image from a spec with strata build-layered and loads it into podman. */
  async function build(spec: Record<string, unknown>): Promise<{ image: string; archive: string; stderr: string }> {
    const name = uniqueImageName();
    const specFile = join(dir.path, `${name}.json`);
    const archive = join(dir.path, `${name}.tar`);
    await writeFile(specFile, JSON.stringify({ name, tag: 'test', ...spec }));
    const result = await runStrata(['build-layered', '--spec', specFile, '--compressor', 'none', '-o', archive]);
    expect(result.exitCode, result.stderr).toBe(0);
    const image = await podmanLoad(archive);
    loaded.push(image);
    return { image, archive, stderr: result.stderr };
  }

  it('1-4: contents at /; without store paths the image has no /nix/store and runs only with it mounted', async () => {
    const withStore = await build({ contents: [hello.hello, hello.busybox], config: { Cmd: ['hello'] } });
    expect((await podmanRun(withStore.image)).stdout).toBe(`Hello, world!\nfrom ${hello.hello}\n`);

    const noStore = await build({ contents: [hello.hello, hello.busybox], config: { Cmd: ['hello'] }, includeStorePaths: false });
    const failed = await podmanRun(noStore.image);
    expect(failed.exitCode).not.toBe(0);
    const unpacked = await unpackImage(`docker-archive:${noStore.archive}`);
    try {
      expect(unpacked.files.filter((f) => f.path.startsWith('/nix/store/'))).toEqual([]);
      expect(unpacked.files.find((f) => f.path === '/bin/hello')?.linkTarget).toBe(`${hello.hello}/bin/hello`);
    } finally {
      await unpacked.remove();
    }
    const mounted = await podmanRun(noStore.image, [], { volumes: ['/nix/store:/nix/store:ro'] });
    expect(mounted.stdout).toBe(`Hello, world!\nfrom ${hello.hello}\n`);
  });

  it('9: a non-root user can traverse /nix and /nix/store (mode 0755)', async () => {
    const { image } = await build({ contents: [hello.busybox], config: { Cmd: ['/bin/sh'] } });
    const r = await podmanRun(image, ['/bin/sh', '-c', `stat -c %a /nix /nix/store && ls ${hello.busybox}/bin/busybox`], { user: '1000:1000' });
    expect(r.stdout).toBe(`755\n755\n${hello.busybox}/bin/busybox\n`);
  });

  it('24: paths that extraCommands output refers to join the image; paths it only ran do not', async () => {
    const { image } = await build({
      extraCommands: `cp -r ${extras.selfRefBusybox}/bin . && ${hello.hello}/bin/hello > /dev/null`,
      config: { Cmd: ['/bin/ls', '/'] },
    });
    const root = await podmanRun(image);
    expect(root.exitCode, root.stderr).toBe(0);
    expect(root.stdout).toContain('bin\n');
    const store = await podmanRun(image, ['/bin/ls', '/nix/store']);
    expect(store.stdout).toBe(`${extras.selfRefBusybox.slice('/nix/store/'.length)}\n`);
  });

  it('27: a store path that is itself a symlink stays a symlink', async () => {
    const { image } = await build({ contents: [hello.busybox, extras.symlink] });
    const r = await podmanRun(image, ['/bin/sh', '-c', `test -L ${extras.symlink} && cat /share/greeting/message`]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('Hello, world!\n');
    expect(r.exitCode).toBe(0);
  });

  it('29: fakeRootCommands ownership persists, and a path only it refers to is included', async () => {
    const { image } = await build({
      contents: [hello.busybox],
      fakeRootCommands: `mkdir -p ./home/alice && chown 1000 ./home/alice && ln -s ${hello.hello} ./hello`,
    });
    const r = await podmanRun(image, ['/bin/sh', '-c', 'stat -c %u /home/alice && /hello/bin/hello']);
    expect(r.stdout).toBe(`1000\nHello, world!\nfrom ${hello.hello}\n`);
  });

  it('32 and 36: with enableFakechroot, / is the layer: /bin/hello runs and chown 12345:12345 shows in stat', async () => {
    const viaChroot = await build({ enableFakechroot: true, fakeRootCommands: `mkdir /bin && ln -s ${hello.hello}/bin/hello /bin/hello`, config: { Cmd: ['/bin/hello'] } });
    expect((await podmanRun(viaChroot.image)).stdout).toBe(`Hello, world!\nfrom ${hello.hello}\n`);
    const chown = await build({ contents: [hello.busybox], enableFakechroot: true, fakeRootCommands: 'touch /testfile && chown 12345:12345 /testfile' });
    expect((await podmanRun(chown.image, ['/bin/sh', '-c', 'stat -c %u:%g /testfile'])).stdout).toBe('12345:12345\n');
  });

  it('33: a local directory in contents', async () => {
    const local = join(dir.path, 'local-contents');
    await mkdir(local, { recursive: true });
    await writeFile(join(local, 'hello.txt'), 'hello from a local directory\n');
    const { image } = await build({ contents: [hello.busybox, local] });
    expect((await podmanRun(image, ['/bin/sh', '-c', 'cat /hello.txt'])).stdout).toBe('hello from a local directory\n');
  });

  it('35: the CA bundle is readable at the three usual paths', async () => {
    const bundle = join(dir.path, 'bundle.crt');
    await writeFile(bundle, '-----BEGIN CERTIFICATE-----\nstrata\n-----END CERTIFICATE-----\n');
    const { image } = await build({ contents: [hello.busybox], caCertificates: bundle });
    const r = await podmanRun(image, ['/bin/sh', '-c', 'cat /etc/ssl/certs/ca-bundle.crt /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt']);
    expect(r.stdout).toBe('-----BEGIN CERTIFICATE-----\nstrata\n-----END CERTIFICATE-----\n'.repeat(3));
  });

  it('helpers: binSh and fakeNss give a shell and users', async () => {
    // binSh finds bin/bash in contents and links /bin/sh to it.
    const { image } = await build({
      contents: [hello.hello, extras.nested],
      binSh: true,
      fakeNss: { extraPasswdLines: ['alice:x:1000:1000::/home/alice:/bin/sh'] },
    });
    const r = await podmanRun(image, ['/bin/sh', '-c', 'readlink /bin/sh; grep -c : /etc/passwd; id -u'], { user: 'alice' });
    expect(r.stdout).toBe(`${extras.nested}/bin/bash\n3\n1000\n`);
  });

  it('includeNixDB: the image registers the closure of contents for nix-store', async () => {
    const { archive } = await build({ contents: [hello.hello], includeNixDB: true });
    const unpacked = await unpackImage(`docker-archive:${archive}`);
    try {
      const refs = await run('nix-store', ['--store', `local?root=${unpacked.rootfs}`, '-q', '--references', hello.hello]);
      expect(refs.stdout.split('\n').filter(Boolean).sort()).toEqual([hello.busybox, hello.greeting, hello.hello].sort());
      expect(unpacked.files.find((f) => f.path === `/nix/var/nix/gcroots/docker/${hello.hello.slice(11)}`)?.linkTarget).toBe(hello.hello);
    } finally {
      await unpacked.remove();
    }
  });

  it('bad input: a failing script shows its stderr and leaves no output; conflicts are warned about', async () => {
    const specFile = join(dir.path, 'failing.json');
    const out = join(dir.path, 'failing.tar');
    await writeFile(specFile, JSON.stringify({ name: 'failing', contents: [hello.busybox], fakeRootCommands: 'echo "no luck" >&2; exit 4' }));
    const failed = await runStrata(['build-layered', '--spec', specFile, '-o', out]);
    expect(failed.exitCode).toBe(1);
    expect(failed.stderr).toContain('fakeRootCommands failed (exit 4)');
    expect(failed.stderr).toContain('no luck');
    await expect(run('test', ['-e', out], { allowFailure: false })).rejects.toThrow();

    const conflicting = await build({ contents: [hello.busybox, extras.selfRefBusybox] });
    expect(conflicting.stderr).toMatch(/contents conflict: \/bin\/sh .*first/);
  });
});
