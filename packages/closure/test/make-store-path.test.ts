import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildHelloClosure, buildNix, hasPeers, makeTempDir, run } from '@strata/test-utils';
import { describe, expect, it } from 'vitest';
import { makeSourcePath, makeTextPath, narInfoOfTree } from '../src/index.js';

/** A Nix string literal for `text`, with `refs` spliced in as `${builtins.storePath ...}` (so they are its context). */
function nixString(text: string, refs: readonly string[]): string {
  let body = text.replace(/[\\"]/g, (c) => `\\${c}`).replace(/\$\{/g, '\\${').replace(/\n/g, '\\n').replace(/\r/g, '\\r').replace(/\t/g, '\\t');
  for (const ref of refs) body = body.replaceAll(ref, `\${builtins.storePath "${ref}"}`);
  return `"${body}"`;
}

async function evalString(expression: string): Promise<string> {
  return JSON.parse((await run('nix-instantiate', ['--eval', '-E', expression])).stdout) as string;
}

describe.runIf(hasPeers('nix-instantiate', 'nix-build', 'nix-store'))('store paths of generated objects, as the real Nix computes them', () => {
  it('makeTextPath agrees with builtins.toFile', async () => {
    const { busybox, greeting } = await buildHelloClosure();
    const cases: [string, string, string[]][] = [
      ['empty', '', []],
      ['tricky', 'line\n"quoted" \\back $' + '{x} \t tab \r cr é 😀\n', []],
      ['with-refs', `#!${busybox}/bin/sh\ncat ${greeting}/share/greeting/message ${busybox}\n`, [busybox, greeting]],
    ];
    for (const [name, text, refs] of cases) {
      expect(makeTextPath(name, text, refs), name).toBe(await evalString(`builtins.toFile "${name}" ${nixString(text, refs)}`));
    }
  });

  it('makeSourcePath agrees with nix-store --add, and with a content-addressed output that has references', async () => {
    const dir = await makeTempDir();
    try {
      await mkdir(join(dir.path, 'tree/bin'), { recursive: true });
      await writeFile(join(dir.path, 'tree/bin/run'), '#!/bin/sh\necho hi\n', { mode: 0o755 });
      await writeFile(join(dir.path, 'tree/data'), 'data');
      const tree = {
        type: 'directory',
        entries: { bin: { type: 'directory', entries: { run: { type: 'regular', executable: true, contents: '#!/bin/sh\necho hi\n' } } }, data: { type: 'regular', contents: 'data' } },
      } as const;
      const added = (await run('nix-store', ['--store', `local?root=${join(dir.path, 'store')}`, '--add', join(dir.path, 'tree')])).stdout.trim();
      expect(makeSourcePath('tree', narInfoOfTree(tree).narHash)).toBe(added);
    } finally {
      await dir.remove();
    }
    const { busybox } = await buildHelloClosure();
    const script = `#!${busybox}/bin/sh\nexec "$@"\n`;
    const [built] = (await buildNix(`derivation { name = "ca-tree"; system = builtins.currentSystem; builder = "/bin/sh";
      __contentAddressed = true; outputHashMode = "recursive"; outputHashAlgo = "sha256"; script = ${nixString(script, [busybox])};
      args = [ "-c" "/bin/mkdir -p $out/bin; printf %s \\"$script\\" > $out/bin/run; /bin/chmod 555 $out/bin/run" ]; }`, { experimentalFeatures: ['ca-derivations'] })) as [string];
    const tree = { type: 'directory', entries: { bin: { type: 'directory', entries: { run: { type: 'regular', executable: true, contents: script } } } } } as const;
    expect(makeSourcePath('ca-tree', narInfoOfTree(tree).narHash, [busybox])).toBe(built);
  });
});
