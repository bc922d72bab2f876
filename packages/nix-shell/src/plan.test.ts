import { makeSourcePath, makeTextPath, narInfoOfTree, parseDerivation } from '@strata/closure';
import { describe, expect, it } from 'vitest';
import { nixShellEnv } from './env.js';
import { NixShellError } from './errors.js';
import { resolveNixShellImageOptions } from './options.js';
import { planNixShellImage } from './prepare.js';

const S = '/nix/store';
const bash = `${S}/00000000000000000000000000000000-bash-5.2`;
const shell = `${bash}/bin/bash`;
const out = `${S}/11111111111111111111111111111111-hello-2.12`;
const dev = `${S}/22222222222222222222222222222222-hello-2.12-dev`;
const stdenv = `${S}/33333333333333333333333333333333-stdenv-linux`;
const src = `${S}/44444444444444444444444444444444-hello-2.12.tar.gz`;
const depDrv = `${S}/55555555555555555555555555555555-stdenv-linux.drv`;
const roots = [bash, src, stdenv];

const q = (s: string) => JSON.stringify(s);
const env: [string, string][] = [
  ['builder', `${bash}/bin/bash`],
  ['dev', dev],
  ['name', 'hello-2.12'],
  ['out', out],
  ['outputs', 'out dev'],
  ['passAsFile', 'buildCommand  notThere\tpatchScript'],
  ['buildCommand', `echo from ${stdenv}\n`],
  ['patchScript', 'sed -i s/a/b/ x'],
  ['PATH', '/path-not-set'],
  ['src', src],
  ['stdenv', stdenv],
  ['shellHook', 'echo hi'],
];
const text = `Derive([("dev",${q(dev)},"",""),("out",${q(out)},"","")],[(${q(depDrv)},["out"])],[${q(src)}],"x86_64-linux",${q(`${bash}/bin/bash`)},["-e",${q(`${S}/66666666666666666666666666666666-default-builder.sh`)}],[${env.map(([k, v]) => `(${q(k)},${q(v)})`).join(',')}])`;
const drv = parseDerivation(text, `${S}/77777777777777777777777777777777-hello-2.12.drv`);

const plan = (options: Partial<Parameters<typeof resolveNixShellImageOptions>[0]> = {}) =>
  planNixShellImage(drv, roots, resolveNixShellImageOptions({ shell, ...options }, drv.name));

describe('planNixShellImage', () => {
  it('generates buildDerivation, the rcfile and one file per passAsFile variable, at the paths Nix would give them', () => {
    const image = plan({ run: 'buildDerivation' });
    expect(image.name).toBe('hello-2.12-env');
    const [bd, file1, file2, rc] = ['buildDerivation', 'shell-passAsFile-buildCommand', 'shell-passAsFile-patchScript', 'nix-shell-rc'].map(
      (n) => image.generated.find((g) => g.path.endsWith(`-${n}`))!,
    );
    expect(image.generated).toHaveLength(4);
    const script = `#!${shell}\nexec ${bash}/bin/bash -e ${S}/66666666666666666666666666666666-default-builder.sh\n\n`;
    expect(bd!.files).toEqual([{ path: `${bd!.path}/bin/buildDerivation`, content: script, mode: 0o555 }]);
    expect(bd!.references).toEqual([bash]);
    const tree = { type: 'directory', entries: { bin: { type: 'directory', entries: { buildDerivation: { type: 'regular', executable: true, contents: script } } } } } as const;
    expect(bd!.path).toBe(makeSourcePath('buildDerivation', narInfoOfTree(tree).narHash, [bash]));
    expect(file1!.files[0]!.content).toBe(`echo from ${stdenv}\n`);
    expect(file1!.references).toEqual([stdenv]);
    expect(file1!.path).toBe(makeTextPath('shell-passAsFile-buildCommand', `echo from ${stdenv}\n`, [stdenv]));
    expect(file2!.references).toEqual([]);
    expect(rc!.references).toEqual([bash, bd!.path].sort());
    expect(rc!.files[0]!.mode).toBe(0o444);
    expect(rc!.files[0]!.content).toContain(`PATH=${bash}/bin:${bd!.path}/bin:"$PATH"\n`);
    expect(rc!.files[0]!.content.endsWith('\nbuildDerivation\nexit\n\n')).toBe(true);
    expect(image.rcfile).toBe(rc!.path);
    expect(image.buildDerivation).toBe(`${bd!.path}/bin/buildDerivation`);
    expect(image.files.map((f) => f.path)).toEqual(image.generated.flatMap((g) => g.files.map((f) => f.path)));
    expect(image.generated.map((g) => g.path)).toEqual(image.generated.map((g) => g.path).sort());
  });

  it('sets the environment in name order as nixpkgs does', () => {
    const image = plan({ homeDirectory: '/home/nixbld', cacert: `${S}/88888888888888888888888888888888-nss-cacert-3.98` });
    const files = new Map(image.generated.map((g) => [g.path.slice(44), g.path]));
    const bd = image.buildDerivation.slice(0, -'/bin/buildDerivation'.length);
    const bundle = `${S}/88888888888888888888888888888888-nss-cacert-3.98/etc/ssl/certs/ca-bundle.crt`;
    expect(image.env).toEqual([
      'HOME=/home/nixbld',
      'NIX_BUILD_CORES=1',
      'NIX_BUILD_TOP=/build',
      `NIX_SSL_CERT_FILE=${bundle}`,
      'NIX_STORE=/nix/store',
      'PATH=/path-not-set', // the derivation's PATH wins over the static path, as in nixpkgs
      'PWD=/build',
      `SSL_CERT_FILE=${bundle}`,
      'TEMP=/build',
      'TEMPDIR=/build',
      'TERM=xterm-256color',
      'TMP=/build',
      'TMPDIR=/build',
      `buildCommandPath=${files.get('shell-passAsFile-buildCommand')}`,
      `builder=${bash}/bin/bash`,
      `dev=${dev}`,
      'name=hello-2.12',
      `out=${out}`,
      'outputs=out dev',
      'passAsFile=buildCommand  notThere\tpatchScript',
      `patchScriptPath=${files.get('shell-passAsFile-patchScript')}`,
      'shellHook=echo hi',
      `src=${src}`,
      `stdenv=${stdenv}`,
    ]);
    expect(image.config).toEqual({ User: '1000:1000', WorkingDir: '/build', Cmd: [shell, '--rcfile', image.rcfile], Env: image.env });
    expect(bd).toMatch(/-buildDerivation$/);
  });

  it('gives outputs their paths and lets a passAsFile file win a name clash, as nixpkgs', () => {
    const clash = { ...drv, env: { ...drv.env, out: 'placeholder', buildCommandPath: 'mine', PATH: undefined as unknown as string } };
    delete (clash.env as Record<string, string>).PATH;
    const lines = nixShellEnv(clash, { homeDirectory: '/build', staticPath: 'S', passAsFilePaths: new Map([['buildCommand', '/f'], ['patchScript', '/g']]) });
    expect(lines).toContain(`out=${out}`);
    expect(lines).toContain('buildCommandPath=/f');
    expect(lines).toContain('PATH=S');
    expect(lines.some((l) => l.startsWith('SSL_CERT_FILE='))).toBe(false);
  });

  it('configures the build user and the directories it owns', () => {
    const image = plan({ uid: 4000, gid: 5000, homeDirectory: '/home/u', command: 'make' });
    expect(image.config.User).toBe('4000:5000');
    expect(image.config.Cmd).toEqual([shell, '--rcfile', image.rcfile]);
    expect(image.fakeNss).toEqual({ extraPasswdLines: ['nixbld:x:4000:5000:Build user:/home/u:/noshell'], extraGroupLines: ['nixbld:!:5000:'] });
    expect(image.fakeRootCommands).toBe('mkdir -p ./nix/store ./nix/var/nix ./etc/nix\nchown -R 4000:5000 ./nix ./etc/nix\nmkdir -p ./build\nchown -R 4000:5000 ./build\n');
    expect(image.binSh).toBe(shell);
  });

  it('refuses __structuredAttrs, and command with run', () => {
    const structured = { ...drv, env: { ...drv.env, __json: '{}' } };
    expect(() => planNixShellImage(structured, roots, resolveNixShellImageOptions({ shell }, 'x'))).toThrow(
      expect.objectContaining({ code: 'STRUCTURED_ATTRS', message: expect.stringContaining('uses __structuredAttrs') }),
    );
    expect(() => plan({ command: 'a', run: 'b' })).toThrow(expect.objectContaining({ code: 'COMMAND_AND_RUN' }));
  });
});

describe('resolveNixShellImageOptions', () => {
  const failure = (options: object): NixShellError => {
    try {
      resolveNixShellImageOptions(options as never, 'x');
    } catch (error) {
      if (error instanceof NixShellError) return error;
      throw error;
    }
    throw new Error('expected a NixShellError');
  };
  it('requires a shell in the store and says what nixpkgs would use', () => {
    expect(failure({}).message).toMatch(/shell is required.*lib\.getExe pkgs\.bash/);
    expect(failure({ shell: '/bin/bash' }).message).toMatch(/shell: \/bin\/bash is not in the Nix store/);
    expect(failure({ shell: `${S}/bad/bin/sh` }).code).toBe('INVALID_OPTION');
  });
  it.each([
    [{ uid: -1 }, /uid: expected an integer/],
    [{ gid: 1.5 }, /gid: expected an integer/],
    [{ homeDirectory: 'build' }, /homeDirectory: expected an absolute path/],
    [{ homeDirectory: '/a:b' }, /homeDirectory: expected an absolute path without ":"/],
    [{ cacert: `${shell}` }, /cacert: expected a store path/],
    [{ command: 1 }, /command: expected a string/],
  ])('names the field of %j', (bad, message) => {
    const e = failure({ shell, ...bad });
    expect(e.code).toBe('INVALID_OPTION');
    expect(e.message).toMatch(message);
  });
  it('applies nixpkgs defaults', () => {
    expect(resolveNixShellImageOptions({ shell }, 'hello')).toEqual({ name: 'hello-env', uid: 1000, gid: 1000, homeDirectory: '/build', shell, storeRoot: '' });
  });
});
