import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  buildNix,
  hasPeers,
  instantiateNix,
  makeTempDir,
  nixShellExpression,
  nixShellPureEnv,
  PODMAN_GLOBAL,
  PODMAN_RUN,
  parseEnv0,
  podmanLoad,
  podmanRemove,
  run,
  type RunningRegistry,
  repoRoot,
  runStrata,
  startRegistry,
  type TempDir,
} from '@strata/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readArchiveJson } from './_layered.js';

/** The report a `run` script prints: plain lines, then the message file and the environment between markers. */
const REPORT = `bb=$busybox/bin/busybox
case $- in *i*) echo interactive;; *) echo non-interactive;; esac
echo "user $($bb id -u):$($bb id -g) home $HOME pwd $PWD"
$bb touch "$HOME/written" && echo "home is writable"
buildDerivation && echo "buildDerivation: $?"
$bb stat -c '%n %u:%g' /nix/store "$out" "$doc"
$bb sha256sum "$out/share/message" "$out/share/greeting" "$doc/note"
echo --message--; $bb cat "$messagePath"; echo; echo --env--; $bb env -0`;

/** Sandbox directories and variables nix-shell (not the derivation) sets, and what podman adds: they differ by design. */
const BY_SANDBOX = ['HOME', 'NIX_BUILD_TOP', 'PWD', 'TEMP', 'TEMPDIR', 'TMP', 'TMPDIR'];

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

describe.runIf(hasPeers('nix-build', 'nix-instantiate', 'nix-shell', 'nix-store', 'podman', 'runc', 'fakeroot', 'bash-static', 'docker-registry', 'skopeo'))(
  'strata stream-nix-shell / build-nix-shell with real Nix and podman',
  () => {
    const expression = nixShellExpression({ nonce: randomUUID(), shellHook: 'export HOOKED=yes; echo "shellHook of $name"' });
    const unique = `strata-cli-nix-shell-test-${randomBytes(4).toString('hex')}`;
    const loaded: string[] = [];
    let dir: TempDir;
    let shell: string;
    let drv: string;
    let built: { out: string; doc: string };

    /** Builds the image file with the CLI (uncompressed, which podman 4.3 loads) and loads it. */
    async function buildAndLoad(name: string, args: readonly string[]): Promise<{ image: string; file: string }> {
      const file = join(dir.path, `${name}.tar`);
      const result = await runStrata(['build-nix-shell', drv, '--shell', shell, '--name', `${unique}-${name}`, '--tag', 'v1', '--compressor', 'none', '-o', file, ...args]);
      expect(result.exitCode, result.stderr).toBe(0);
      const image = await podmanLoad(file);
      loaded.push(image);
      return { image, file };
    }

    function podmanRun(image: string, extra: readonly string[] = []) {
      return run('podman', [...PODMAN_GLOBAL, 'run', ...PODMAN_RUN, ...extra, image], { allowFailure: true });
    }

    beforeAll(async () => {
      dir = await makeTempDir('strata-cli-nix-shell-');
      const [bash] = (await buildNix(expression, { attr: 'bashStatic' })) as [string];
      shell = `${bash}/bin/bash`;
      await buildNix(expression, { attr: 'stdenv' });
      await buildNix(expression, { attr: 'greeting' });
      [drv] = (await instantiateNix(`(${expression}).target`)) as [string];
      // Built on the host too: to compare with what buildDerivation builds in the container, and
      // to show that the outputs, though in the host's store, are not put into the image.
      const outputs = (await run('nix-store', ['--realise', drv])).stdout.split('\n').filter(Boolean);
      built = { out: outputs.find((p) => !p.endsWith('-doc'))!, doc: outputs.find((p) => p.endsWith('-doc'))! };
    });
    afterAll(async () => {
      for (const image of loaded) await podmanRemove(image);
      await dir?.remove();
    });

    it('runs `run` non-interactively in the environment nix-shell --pure gives; buildDerivation builds the outputs as the build user', async () => {
      const { image } = await buildAndLoad('run', ['--run', REPORT]);
      const result = await podmanRun(image);
      expect(result.stderr).toBe('');
      const [lines, rest] = result.stdout.split('--message--\n') as [string, string];
      const [message, envText] = rest.split('\n--env--\n') as [string, string];
      const hashes = await Promise.all([`${built.out}/share/message`, `${built.out}/share/greeting`, `${built.doc}/note`].map(async (f) => `${sha256(await readFile(f))}  ${f}`));
      expect(lines.split('\n')).toEqual([
        'shellHook of shell-target',
        'non-interactive',
        'user 1000:1000 home /build pwd /build',
        'home is writable',
        'buildDerivation: 0',
        '/nix/store 1000:1000',
        `${built.out} 1000:1000`,
        `${built.doc} 1000:1000`,
        ...hashes,
        '',
      ]);
      // passAsFile: the file holds the value, byte for byte.
      expect(message).toBe('multi\nline "double" \'single\' \\ back $dollar $' + '{brace} ü\ttab');

      // The environment matches nix-shell --pure for the same derivation and shell, except the
      // sandbox's directories, the passAsFile file's path, and what each side adds of its own.
      const inside = parseEnv0(envText);
      const nixShell = await nixShellPureEnv(drv, shell, dir.path);
      for (const [name, value] of nixShell) {
        if (BY_SANDBOX.includes(name) || ['NIX_BUILD_CORES', 'messagePath', '_'].includes(name) || !inside.has(name)) continue;
        expect(inside.get(name), name).toBe(value);
      }
      for (const name of BY_SANDBOX) expect(inside.get(name), name).toBe('/build');
      expect(inside.get('NIX_BUILD_CORES')).toBe('1'); // as nixpkgs sets it; nix-shell takes the host's
      expect([...inside.keys()].filter((k) => !nixShell.has(k)).sort()).toEqual(['HOSTNAME', 'TERM', 'container']);
      expect([...nixShell.keys()].filter((k) => !inside.has(k)).sort()).toEqual(['IN_NIX_SHELL', 'NIX_BUILD_SHELL', '__ETC_PROFILE_SOURCED']);
    });

    it('runs `command` in an interactive shell with the nix-shell prompt, as the given user with the given home', async () => {
      const command = 'bb=$busybox/bin/busybox; case $- in *i*) echo interactive;; esac; echo "$PS1"; echo "user $($bb id -u):$($bb id -g) $($bb id -un)"; [ -e "$HOME" ] || echo "no $HOME"';
      const { image } = await buildAndLoad('command', ['--command', command, '--uid', '1234', '--gid', '2345', '--home-directory', '/homeless-shelter']);
      const result = await podmanRun(image, ['--tty']);
      expect(result.stdout.replaceAll('\r', '').split('\n')).toEqual([
        'shellHook of shell-target',
        'interactive',
        '\\n\\[\\033[1;32m\\][nix-shell:\\w]\\$\\[\\033[0m\\] ',
        'user 1234:2345 nixbld',
        'no /homeless-shelter',
        '',
      ]);
    });

    it('streams the same bytes build-nix-shell writes, every time; the image holds the written files, not the outputs', async () => {
      const args = ['--shell', shell, '--run', 'buildDerivation'];
      const file = join(dir.path, 'built.tar');
      expect((await runStrata(['build-nix-shell', drv, ...args, '--compressor', 'none', '-o', file])).exitCode).toBe(0);
      const bin = join(repoRoot(), 'packages/cli/dist/bin.js');
      for (const name of ['streamed-1.tar', 'streamed-2.tar']) {
        const streamed = await run('bash', ['-c', `"$0" "$1" stream-nix-shell "$2" "$3" "$4" "$5" "$6" > "$7"`, process.execPath, bin, drv, ...args, join(dir.path, name)]);
        expect(streamed.stderr).toBe('');
        expect(sha256(await readFile(join(dir.path, name)))).toBe(sha256(await readFile(file)));
      }
      const { manifest, config } = await readArchiveJson(file);
      expect(manifest.RepoTags).toEqual([expect.stringMatching(/^shell-target-env:[0-9a-f]{32}$/)]);
      const [cmdShell, rcfile] = config.config!.Cmd as [string, string];
      expect(cmdShell).toBe(shell);
      const history = JSON.stringify(config.history);
      expect(history).toContain(rcfile);
      expect(history).not.toContain(built.out);
      expect(history).not.toContain(built.doc);
    });

    it('pushes a nix-shell spec straight into a registry, to the digest of its archive', async () => {
      const reg: RunningRegistry = await startRegistry();
      try {
        const spec = join(dir.path, 'nix-shell.json');
        await writeFile(spec, JSON.stringify({ drv, shell, run: 'buildDerivation', tag: 'pushed' }));
        const file = join(dir.path, 'spec.tar');
        expect((await runStrata(['build-nix-shell', '--spec', spec, '--compressor', 'none', '-o', file])).exitCode).toBe(0);
        const fromArchive = await runStrata(['push', file, `${reg.host}/strata/nix-shell:archive`]);
        const fromSpec = await runStrata(['push', spec, `${reg.host}/strata/nix-shell:spec`]);
        expect(fromSpec.exitCode, fromSpec.stderr).toBe(0);
        expect(fromSpec.stdout.split('@')[1]).toBe(fromArchive.stdout.split('@')[1]);
      } finally {
        await reg.stop();
      }
    });

    it('names inputs that are not in the store and the command that realises them (exit 2)', async () => {
      const [needs] = (await instantiateNix(`(${expression}).needsUnbuilt`)) as [string];
      const result = await runStrata(['build-nix-shell', needs, '--shell', shell, '-o', join(dir.path, 'never.tar')]);
      expect(result.exitCode).toBe(2);
      expect(result.stderr).toMatch(/\/nix\/store\/[a-z0-9]{32}-never-built \(output out of \/nix\/store\/[a-z0-9]{32}-never-built\.drv\)/);
      expect(result.stderr).toMatch(/realise them with: nix-store --realise \/nix\/store\/[a-z0-9]{32}-never-built\.drv/);
    });

    it('refuses __structuredAttrs, command with run, a missing shell and a path that is not a derivation (exit 2)', async () => {
      const [structured] = (await instantiateNix(
        'derivation { name = "structured"; system = builtins.currentSystem; builder = "/bin/sh"; __structuredAttrs = true; args = [ ]; }',
      )) as [string];
      const out = join(dir.path, 'refused.tar');
      const cases: [readonly string[], RegExp][] = [
        [[structured, '--shell', shell], /__structuredAttrs/],
        [[drv, '--shell', shell, '--command', 'a', '--run', 'b'], /command and run cannot both be given/],
        [[drv], /--shell is required .*nixpkgs uses bash's bin\/bash/],
        [[shell, '--shell', shell], /drv: .* is not a derivation/],
      ];
      for (const [args, message] of cases) {
        const result = await runStrata(['build-nix-shell', ...args, '-o', out]);
        expect(result.exitCode, args.join(' ')).toBe(2);
        expect(result.stderr).toMatch(message);
      }
      await expect(readFile(out)).rejects.toMatchObject({ code: 'ENOENT' });
    });
  },
);
