import { randomUUID } from 'node:crypto';
import { chmod, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { collectClosure, dumpNarInfo } from '@strata/closure';
import {
  buildNix,
  hasPeers,
  instantiateNix,
  makeTempDir,
  nixPathInfo,
  nixShellExpression,
  nixShellPureEnv,
  PODMAN_GLOBAL,
  PODMAN_RUN,
  parseEnv0,
  run,
  type TempDir,
} from '@strata/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MissingInputsError, type NixShellImage, prepareNixShellImage } from '../src/index.js';

// The derivations come from test-utils (nixShellExpression), shared with the image builders' tests.

const etcLines = (base: string[], extra: readonly string[], last: string) => `${[...base, ...extra, last].join('\n')}\n`;

/**
 * A root file system as an image builder would lay it out: fakeRootCommands run as root in it, the
 * fakeNss files, /bin/sh, the closure of the roots copied in, the generated store objects written.
 */
async function makeRootfs(image: NixShellImage, dir: string): Promise<void> {
  await mkdir(dir);
  await chmod(dir, 0o755); // the build user must reach it
  await run('bash', ['-c', image.fakeRootCommands], { cwd: dir });
  await mkdir(join(dir, 'etc'), { recursive: true });
  await writeFile(join(dir, 'etc/passwd'), etcLines(['root:x:0:0:root user:/var/empty:/bin/sh'], image.fakeNss.extraPasswdLines, 'nobody:x:65534:65534:nobody:/var/empty:/bin/sh'));
  await writeFile(join(dir, 'etc/group'), etcLines(['root:x:0:'], image.fakeNss.extraGroupLines, 'nobody:x:65534:'));
  await mkdir(join(dir, 'bin'));
  await symlink(image.binSh, join(dir, 'bin/sh'));
  // The host's bash is linked against the host's libraries (nixpkgs' bash would bring its own).
  await symlink('usr/lib', join(dir, 'lib'));
  await symlink('usr/lib64', join(dir, 'lib64'));
  const closure = await collectClosure(image.closureRoots, { source: 'nix' });
  await run('cp', ['-a', ...closure.map((p) => p.path), join(dir, 'nix/store')]);
  for (const file of image.files) {
    await mkdir(join(dir, dirname(file.path)), { recursive: true });
    await writeFile(join(dir, file.path), file.content, { mode: file.mode });
  }
}

/** Runs the image config in podman on the root file system (`--rootfs`), as the image would run. */
function podmanRunRootfs(image: NixShellImage, rootfs: string, options: { tty?: boolean } = {}) {
  const args = [...PODMAN_GLOBAL, 'run', ...PODMAN_RUN, '--user', image.config.User, '--workdir', image.config.WorkingDir, '--volume', '/usr:/usr:ro'];
  if (options.tty) args.push('--tty');
  for (const line of image.config.Env) args.push('--env', line);
  return run('podman', [...args, '--rootfs', rootfs, ...image.config.Cmd], { allowFailure: true });
}

describe.runIf(hasPeers('nix-build', 'nix-instantiate', 'nix-shell', 'nix', 'podman'))('a nix-shell image of a real derivation', () => {
  const expression = nixShellExpression({ nonce: randomUUID() });
  let dir: TempDir;
  let shell: string;
  let drv: string;
  let built: { out: string; doc: string };

  beforeAll(async () => {
    dir = await makeTempDir();
    const [bash] = (await buildNix(expression, { attr: 'bash' })) as [string];
    shell = `${bash}/bin/bash`;
    await buildNix(expression, { attr: 'stdenv' });
    await buildNix(expression, { attr: 'greeting' });
    [drv] = (await instantiateNix(`(${expression}).target`)) as [string];
    // Built by Nix too, to compare with what buildDerivation builds in the container.
    const [out, doc] = (await run('nix-store', ['--realise', drv])).stdout.split('\n').filter(Boolean).sort((a, b) => (a.endsWith('-doc') ? 1 : b.endsWith('-doc') ? -1 : 0)) as [string, string];
    built = { out, doc };
  });
  afterAll(() => dir.remove());

  it('runs `run` in the environment nix-shell --pure gives, and buildDerivation builds the output', async () => {
    const image = await prepareNixShellImage(drv, { shell, run: '"$busybox/bin/busybox" env -0 > /build/env.out; buildDerivation; echo "built: $?"' });
    const rootfs = join(dir.path, 'rootfs-run');
    await makeRootfs(image, rootfs);
    const result = await podmanRunRootfs(image, rootfs);
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe('built: 0\n');

    // buildDerivation, run as the build user, wrote the outputs Nix builds, byte for byte.
    const [outInfo, docInfo] = await nixPathInfo([built.out, built.doc]).then((all) => [built.out, built.doc].map((p) => all.find((i) => i.path === p)!));
    expect((await dumpNarInfo(join(rootfs, built.out))).narHash).toBe(outInfo!.narHash);
    expect((await dumpNarInfo(join(rootfs, built.doc))).narHash).toBe(docInfo!.narHash);

    // The environment inside is the computed one (PATH is re-set unexported by the rcfile, as in
    // nix-shell), plus what stdenv's setup and shellHook exported and what bash and podman add.
    const inside = parseEnv0(await readFile(join(rootfs, 'build/env.out'), 'utf8'));
    const computed = new Map(image.env.map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
    for (const [name, value] of computed) if (name !== 'PATH') expect(inside.get(name), name).toBe(value);
    expect([...inside.keys()].filter((k) => !computed.has(k)).sort()).toEqual(['HOOKED', 'HOSTNAME', 'SETUP_SOURCED', 'SHLVL', '_']);
    expect(inside.has('PATH')).toBe(false);

    // nix-shell --pure on the host, with the same shell: the derivation's variables agree exactly,
    // passAsFile files hold the same bytes; what differs is the sandbox's directories and Nix's own.
    const nixShell = await nixShellPureEnv(drv, shell, dir.path);
    const bySandbox = ['HOME', 'NIX_BUILD_CORES', 'NIX_BUILD_TOP', 'PWD', 'TEMP', 'TEMPDIR', 'TMP', 'TMPDIR'];
    for (const [name, value] of computed) {
      if (name === 'PATH' || bySandbox.includes(name) || name === 'TERM') continue;
      if (name === 'messagePath') expect(await readFile(join(rootfs, value), 'utf8')).toBe(await readFile(nixShell.get(name)!, 'utf8'));
      else expect(nixShell.get(name), name).toBe(value);
    }
    expect(await readFile(join(rootfs, computed.get('messagePath')!), 'utf8')).toBe('multi\nline "double" \'single\' \\ back $dollar $' + '{brace} ü\ttab');
    expect([...nixShell.keys()].filter((k) => !computed.has(k)).sort()).toEqual(['HOOKED', 'IN_NIX_SHELL', 'NIX_BUILD_SHELL', 'SETUP_SOURCED', 'SHLVL', '_', '__ETC_PROFILE_SOURCED']);
    expect([...computed.keys()].filter((k) => !nixShell.has(k)).sort()).toEqual(['PATH', 'TERM']);
  });

  it('runs `command` in an interactive shell with the nix-shell prompt', async () => {
    const image = await prepareNixShellImage(drv, { shell, command: 'printf "%s|%s|%s\\n" "$PS1" "$HOOKED" "$UID"' });
    expect(image.config.Cmd).toEqual([shell, '--rcfile', image.rcfile]);
    const rootfs = join(dir.path, 'rootfs-command');
    await makeRootfs(image, rootfs);
    const result = await podmanRunRootfs(image, rootfs, { tty: true });
    expect(result.stdout.replaceAll('\r', '')).toBe('\\n\\[\\033[1;32m\\][nix-shell:\\w]\\$\\[\\033[0m\\] |yes|1000\n');
  });

  it('names an input that is not built and the command that builds it, which works', async () => {
    const [needs] = (await instantiateNix(`(${expression}).needsUnbuilt`)) as [string];
    const error = await prepareNixShellImage(needs, { shell }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MissingInputsError);
    const { missing, command } = error as MissingInputsError;
    expect(missing).toHaveLength(1);
    expect(missing[0]!.path).toMatch(/-never-built$/);
    expect(command).toMatch(/^nix-store --realise \/nix\/store\/[a-z0-9]{32}-never-built\.drv$/);
    await run('bash', ['-c', command]);
    expect((await prepareNixShellImage(needs, { shell })).closureRoots).toContain(missing[0]!.path);
  });

  it('refuses a derivation with __structuredAttrs, as nixpkgs does', async () => {
    const [structured] = (await instantiateNix(
      'derivation { name = "structured"; system = builtins.currentSystem; builder = "/bin/sh"; __structuredAttrs = true; args = [ ]; }',
    )) as [string];
    await expect(prepareNixShellImage(structured, { shell })).rejects.toMatchObject({ code: 'STRUCTURED_ATTRS' });
  });
});
