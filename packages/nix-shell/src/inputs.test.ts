import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseDerivation } from '@strata/closure';
import { makeTempDir, type TempDir } from '@strata/test-utils';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MissingInputsError, type NixShellError } from './errors.js';
import { resolveShellInputs } from './inputs.js';

const S = '/nix/store';
const p = (c: string, name: string) => `${S}/${c.repeat(32)}-${name}`;
const bash = p('0', 'bash');
const shell = `${bash}/bin/bash`;
const libDrv = p('1', 'lib.drv');
const libOut = p('2', 'lib');
const libDev = p('3', 'lib-dev');
const caDrv = p('4', 'ca.drv');
const src = p('5', 'src.tar.gz');
const q = JSON.stringify;

const drvWith = (inputDrvs: string) => parseDerivation(`Derive([("out",${q(p('6', 'app'))},"","")],${inputDrvs},[${q(src)}],"s","/bin/sh",[],[("name","app")])`, p('7', 'app.drv'));

describe('resolveShellInputs', () => {
  let dir: TempDir;
  const put = async (path: string, content?: string) => {
    if (content === undefined) await mkdir(join(dir.path, path), { recursive: true });
    else {
      await mkdir(join(dir.path, S), { recursive: true });
      await writeFile(join(dir.path, path), content);
    }
  };
  beforeEach(async () => {
    dir = await makeTempDir();
    await put(libDrv, `Derive([("dev",${q(libDev)},"",""),("out",${q(libOut)},"","")],[],[],"s","b",[],[])`);
    await put(caDrv, `Derive([("out","","r:sha256","")],[],[],"s","b",[],[])`);
  });
  afterEach(() => dir.remove());

  it('gives the sources, the outputs used of input derivations and the shell', async () => {
    for (const path of [libOut, libDev, src]) await put(path);
    await put(`${bash}/bin`);
    await put(shell, '#!sh');
    const roots = await resolveShellInputs(drvWith(`[(${q(libDrv)},["dev","out"])]`), { shell, storeRoot: dir.path });
    expect(roots).toEqual([bash, libOut, libDev, src].sort());
  });

  it('names every missing input with the command that realises it', async () => {
    await put(libOut);
    const error = await resolveShellInputs(drvWith(`[(${q(libDrv)},["dev","out"])]`), { shell, storeRoot: dir.path }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MissingInputsError);
    const e = error as MissingInputsError;
    const store = `--store 'local?root=${dir.path}'`;
    expect(e.missing).toEqual([
      { path: src, role: 'an input source', command: `nix-store ${store} --realise ${src}` },
      { path: libDev, role: `output dev of ${libDrv}`, command: `nix-store ${store} --realise ${libDrv}` },
      { path: bash, role: 'the shell', command: `nix-store ${store} --realise ${bash}` },
    ]);
    expect(e.command).toBe(`nix-store ${store} --realise ${src} ${libDrv} ${bash}`);
    expect(e.message).toContain(`3 inputs of ${p('7', 'app.drv')} are not in the store ${dir.path}/nix/store:\n  ${src} (an input source)\n`);
    expect(e.message).toContain(`realise them with: ${e.command}`);
  });

  it('refuses an input whose output path only Nix can know, and a shell missing from its store path', async () => {
    const ca = await resolveShellInputs(drvWith(`[(${q(caDrv)},["out"])]`), { shell, storeRoot: dir.path }).catch((e: unknown) => e as NixShellError);
    expect(ca).toMatchObject({ code: 'UNSUPPORTED', message: expect.stringContaining('content-addressed') });
    for (const path of [src, bash]) await put(path);
    const noShell = await resolveShellInputs(drvWith('[]'), { shell, storeRoot: dir.path }).catch((e: unknown) => e as NixShellError);
    expect(noShell).toMatchObject({ code: 'INVALID_OPTION', message: `nix-shell: shell: ${shell} does not exist in ${bash}` });
  });
});
