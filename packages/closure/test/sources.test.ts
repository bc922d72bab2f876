import { execFileSync } from 'node:child_process';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import {
  buildHelloClosure,
  buildNix,
  copyStoreFiles,
  copyToChrootStore,
  exportReferencesGraph,
  type HelloClosure,
  hasPeers,
  makeTempDir,
  type NixPathInfo,
  nixPathInfo,
  run,
  shDerivation,
  type TempDir,
} from '@strata/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClosureError, collectClosure, type DiscoverClosureOptions, findStoreReferences, type StorePath } from '../src/index.js';

const comparable = (records: readonly StorePath[] | readonly NixPathInfo[]) =>
  records.map((r) => ({ path: r.path, narSize: r.narSize, narHash: r.narHash, references: [...r.references] }));

// Files that exercise the NAR rules: empty file and directory, odd names, executables, symlinks.
const ODDITIES = `derivation { name = "oddities"; system = builtins.currentSystem; builder = "/bin/sh"; PATH = "/usr/bin:/bin";
  args = [ "-c" ''
    mkdir -p $out/emptydir $out/a/b
    touch $out/empty
    printf 'x' > "$out/sp ace"
    printf 'unicode' > $out/$(printf '\\303\\274n\\303\\257')
    printf '#!/bin/sh\\n' > $out/a/b/run && chmod 0755 $out/a/b/run
    ln -s ../empty $out/a/link
    ln -s /nix/store/dangling-target $out/dangling
    head -c 3000000 /dev/zero > $out/zeros
  '' ]; }`;

describe.runIf(hasPeers('nix-build', 'nix', 'nix-store'))('discoverClosure on a real Nix closure', () => {
  let hello: HelloClosure;
  let oddities: string;
  let expected: NixPathInfo[];
  let dir: TempDir;

  beforeAll(async () => {
    dir = await makeTempDir();
    hello = await buildHelloClosure();
    [oddities] = (await buildNix(ODDITIES)) as [string];
    expected = await nixPathInfo([hello.hello, oddities]);
  });
  afterAll(() => dir.remove());

  const roots = () => [hello.hello, oddities];

  it.each(['nix', 'nix-store', 'scan'] as const)('source %s reports what nix path-info reports', async (source) => {
    const closure = await collectClosure(roots(), { source });
    expect(comparable(closure)).toEqual(comparable(expected));
    expect(closure.find((r) => r.path === hello.hello)!.references).toEqual([hello.busybox, hello.greeting, hello.hello].sort());
  });

  it('a graph file written by exportReferencesGraph gives the same closure', async () => {
    const graphFile = await exportReferencesGraph(roots());
    expect(comparable(await collectClosure(roots(), { graphFile }))).toEqual(comparable(expected));
    // No roots: the whole file. One root: only its closure.
    expect(comparable(await collectClosure([], { graphFile }))).toEqual(comparable(expected));
    const onlyGreeting = await collectClosure([hello.greeting], { graphFile });
    expect(onlyGreeting.map((r) => r.path)).toEqual([hello.busybox, hello.greeting].sort());
  });

  it('a registration file (nix-store --dump-db, closureInfo format) gives the same closure', async () => {
    const requisites = (await run('nix-store', ['-qR', ...roots()])).stdout.split('\n').filter(Boolean);
    const registrationFile = join(dir.path, 'registration');
    await writeFile(registrationFile, (await run('nix-store', ['--dump-db', ...requisites])).stdout);
    expect(comparable(await collectClosure(roots(), { registrationFile }))).toEqual(comparable(expected));
  });

  it('a chroot store gives the same closure through nix and through scanning', async () => {
    const storeRoot = join(dir.path, 'chroot');
    await copyToChrootStore([hello.hello], storeRoot);
    const want = comparable(expected.filter((e) => e.path !== oddities && !e.path.endsWith('-oddities')));
    for (const source of ['nix', 'nix-store', 'scan'] as const) {
      expect(comparable(await collectClosure([hello.hello], { source, storeRoot })), source).toEqual(want);
    }
  });

  it('scanning works on a bare copy of the store with no Nix database', async () => {
    const storeRoot = join(dir.path, 'bare');
    await copyStoreFiles([hello.hello, hello.greeting, hello.busybox], storeRoot);
    expect(comparable(await collectClosure([hello.hello], { source: 'scan', storeRoot }))).toEqual(
      comparable(expected.filter((e) => !e.path.endsWith('-oddities'))),
    );
  });

  it('follows a result symlink and a file inside a store path to their store path', async () => {
    const link = join(dir.path, 'result');
    await symlink(hello.hello, link);
    const viaLink = await collectClosure([link, `${hello.greeting}/share/greeting/message`], { source: 'scan' });
    expect(viaLink.map((r) => r.path)).toEqual([hello.busybox, hello.greeting, hello.hello].sort());
  });

  async function failure(rootsArg: string[], options: DiscoverClosureOptions): Promise<ClosureError> {
    try {
      await collectClosure(rootsArg, options);
    } catch (error) {
      if (error instanceof ClosureError) return error;
      throw error;
    }
    throw new Error('expected a ClosureError');
  }

  it('names a root that does not exist, or lies outside the store', async () => {
    const missing = '/nix/store/00000000000000000000000000000000-missing';
    for (const source of ['nix', 'scan'] as const) {
      const e = await failure([missing], { source });
      expect(e.code).toBe('NOT_FOUND');
      expect(e.message).toContain(missing);
    }
    const outside = await failure(['/etc/hostname'], { source: 'scan' });
    expect(outside.code).toBe('OUTSIDE_STORE');
    expect(outside.message).toContain('/etc/hostname');
    const inChroot = await failure([hello.hello], { source: 'scan', storeRoot: dir.path });
    expect(inChroot.message).toContain(`does not exist in the store root ${dir.path}`);
  });
});

// Names Nix stores as raw bytes: not UTF-8, with a newline, and a symlink target that is not UTF-8.
const RAW_NAMES = `derivation { name = "raw-names"; system = builtins.currentSystem; builder = "/bin/sh"; PATH = "/usr/bin:/bin";
  args = [ "-c" ''
    mkdir -p "$out/$(printf 'caf\\351')"
    printf 'latin-1' > "$out/$(printf 'caf\\351')/$(printf '\\377\\376')"
    printf 'newline' > "$out/$(printf 'a\\nb')"
    ln -s "$(printf '/weird\\377target')" $out/odd-link
  '' ]; }`;

describe.runIf(hasPeers('nix-build', 'nix'))('scanning paths whose names are not UTF-8', () => {
  it('serialises them byte for byte, as nix path-info reports', async () => {
    const [raw] = (await buildNix(RAW_NAMES)) as [string];
    const closure = await collectClosure([raw], { source: 'scan' });
    expect(comparable(closure)).toEqual(comparable(await nixPathInfo([raw])));
  });
});

describe.runIf(hasPeers('nix-build', 'nix-store'))('roots given as symlinks', () => {
  let dir: TempDir;
  beforeAll(async () => {
    dir = await makeTempDir();
  });
  afterAll(() => dir.remove());

  it('keeps a store path that is itself a symlink as the root, as nix-store -qR ./result does', async () => {
    const [target, linked] = (await buildNix(
      `let target = ${shDerivation('link-target', 'mkdir $out; echo x > $out/f')}; in [ target (derivation { name = "store-link"; system = builtins.currentSystem; builder = "/bin/sh"; args = [ "-c" "/bin/ln -s \${target} $out" ]; }) ]`,
    )) as [string, string];
    const result = join(dir.path, 'result');
    await symlink(linked, result);
    const want = (await run('nix-store', ['-qR', result])).stdout.split('\n').filter(Boolean).sort();
    expect(want).toEqual([linked, target].sort());
    for (const source of ['nix', 'scan'] as const) {
      expect((await collectClosure([result], { source })).map((r) => r.path), source).toEqual(want);
    }
  });

  it('follows a result link to a /nix/store path that exists only in the chroot store', async () => {
    const storeRoot = join(dir.path, 'chroot');
    const only = '/nix/store/00000000000000000000000000000000-only-in-chroot';
    await mkdir(join(storeRoot, only), { recursive: true });
    await writeFile(join(storeRoot, only, 'f'), 'x');
    const result = join(dir.path, 'chroot-result');
    await symlink(only, result); // what nix-store --store local?root=DIR --add-root writes
    expect((await collectClosure([result], { source: 'scan', storeRoot })).map((r) => r.path)).toEqual([only]);
  });
});

describe('scanning a store with files beside its paths', () => {
  it('takes X, not X.lock or X.check, as the store path of a hash part', async () => {
    const dir = await makeTempDir();
    try {
      const store = join(dir.path, 'nix/store');
      // Several hash parts, so that directory order puts a side file after its path at least once.
      const paths = ['0', '1', '2', '3', '4', '5'].map((c) => `/nix/store/${c.repeat(32)}-foo`);
      for (const [i, path] of paths.entries()) {
        await mkdir(join(dir.path, path), { recursive: true });
        await writeFile(join(dir.path, path, 'next'), paths[i + 1] ?? 'end');
        await writeFile(join(store, `${path.slice('/nix/store/'.length)}.lock`), '');
        await mkdir(join(store, `${path.slice('/nix/store/'.length)}.check`));
      }
      const closure = await collectClosure([paths[0]!], { source: 'scan', storeRoot: dir.path });
      expect(closure.map((r) => [r.path, r.references])).toEqual(paths.map((p, i) => [p, paths.slice(i + 1, i + 2)]));
    } finally {
      await dir.remove();
    }
  });
});

describe.runIf(hasPeers('nix-build'))('findStoreReferences', () => {
  it('finds store paths that a tree refers to through links and file contents only', async () => {
    const hello = await buildHelloClosure();
    const dir = await makeTempDir();
    try {
      await symlink(`${hello.hello}/bin/hello`, join(dir.path, 'hello'));
      await writeFile(join(dir.path, 'config'), `greeting=${hello.greeting}/share/greeting/message\n`);
      expect(await findStoreReferences(dir.path)).toEqual([hello.greeting, hello.hello].sort());
    } finally {
      await dir.remove();
    }
  });

  it('scans a tree holding a named pipe (made by fakeRootCommands), reading its name but no contents', async () => {
    const hello = await buildHelloClosure();
    const dir = await makeTempDir();
    try {
      await symlink(`${hello.hello}/bin/hello`, join(dir.path, 'hello'));
      await mkdir(join(dir.path, 'run'));
      execFileSync('mkfifo', [join(dir.path, 'run/ctl'), join(dir.path, 'run', basename(hello.greeting))]);
      expect(await findStoreReferences(dir.path)).toEqual([hello.greeting, hello.hello].sort());
    } finally {
      await dir.remove();
    }
  });
});
