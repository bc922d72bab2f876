import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  buildHelloClosure,
  exportReferencesGraph,
  type HelloClosure,
  hasPeers,
  makeTempDir,
  nixPathInfo,
  runStrata,
  type TempDir,
} from '@strata/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

describe.runIf(hasPeers('nix-build', 'nix'))('strata closure', () => {
  let hello: HelloClosure;
  let dir: TempDir;
  beforeAll(async () => {
    hello = await buildHelloClosure();
    dir = await makeTempDir();
  });
  afterAll(() => dir.remove());

  it('--json prints exactly what nix path-info reports, from every source', async () => {
    const expected = (await nixPathInfo([hello.hello])).map(({ path, narSize, narHash, references }) => ({ path, narSize, narHash, references }));
    const graph = await exportReferencesGraph([hello.hello]);
    for (const flags of [[], ['--scan'], ['--source', 'nix-store'], ['--graph', graph]]) {
      const result = await runStrata(['closure', hello.hello, '--json', ...flags]);
      expect(result.stderr, flags.join(' ')).toBe('');
      expect(result.exitCode).toBe(0);
      expect(JSON.parse(result.stdout)).toEqual(expected);
    }
  });

  it('prints a table with sizes and a total', async () => {
    const result = await runStrata(['closure', hello.hello, '--scan']);
    expect(result.exitCode).toBe(0);
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^NAR SIZE\s+REFS\s+PATH$/);
    expect(lines).toHaveLength(5);
    const total = (await nixPathInfo([hello.hello])).reduce((s, r) => s + r.narSize, 0);
    expect(lines[4]).toContain(`total: 3 paths (${total} bytes)`);
    expect(result.stdout).toMatch(new RegExp(`\\s2\\s+${hello.hello}\\n`)); // busybox + greeting, self not counted
  });

  it('fails with a clear message and a non-zero exit on bad input', async () => {
    const missing = await runStrata(['closure', '--scan', '/nix/store/00000000000000000000000000000000-gone']);
    expect(missing.exitCode).toBe(2);
    expect(missing.stdout).toBe('');
    expect(missing.stderr).toMatch(/NOT_FOUND.*00000000000000000000000000000000-gone does not exist/);

    const bad = join(dir.path, 'bad.json');
    await writeFile(bad, JSON.stringify([{ path: hello.hello, narSize: -1, references: [] }]));
    const malformed = await runStrata(['closure', '--graph', bad]);
    expect(malformed.exitCode).toBe(2);
    expect(malformed.stderr).toContain(`${bad}[0].narSize`);

    const twoSources = await runStrata(['closure', hello.hello, '--scan', '--graph', bad]);
    expect(twoSources.exitCode).toBe(2);
    expect(twoSources.stderr).toContain('choose one source');
  });
});
