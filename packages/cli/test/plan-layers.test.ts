import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildHelloClosure, hasPeers, makeTempDir, run, runStrata, type TempDir } from '@strata/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// `strata plan-layers` through the built CLI, as a user runs it.
const glibc = '/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-glibc-2.40';
const hello = '/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-hello-2.12';
const custom = '/nix/store/cccccccccccccccccccccccccccccccc-hello-customisation-layer';
const graph = [
  { path: hello, narSize: 200, narHash: 'sha256:x', closureSize: 2200, references: [hello, glibc] },
  { path: glibc, narSize: 2_000_000, narHash: 'sha256:y', closureSize: 2_000_000, references: [glibc] },
  { path: custom, narSize: 10, narHash: 'sha256:z', closureSize: 2_000_210, references: [hello] },
];

describe('strata plan-layers', () => {
  let dir: TempDir;
  const file = (name: string) => join(dir.path, name);
  const write = async (name: string, value: unknown) => {
    await writeFile(file(name), typeof value === 'string' ? value : JSON.stringify(value));
    return file(name);
  };

  beforeAll(async () => {
    dir = await makeTempDir('strata-cli-plan-layers-');
  });
  afterAll(async () => {
    await dir.remove();
  });

  it('prints the auto layers as JSON on stdout, warnings on stderr', async () => {
    const g = await write('graph.json', graph);
    const result = await runStrata(['plan-layers', '--graph', g, '--ignore', custom, '--ignore', '/nix/store/x-absent']);
    expect(result.exitCode).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual([[glibc], [hello]]);
    expect(result.stdout).toBe(`${JSON.stringify([[glibc], [hello]], null, 2)}\n`);
    expect(result.stderr).toBe('strata: warning: ignored path /nix/store/x-absent is not in the graph; it has no effect\n');
  });

  it('accepts {"graph": [...]}, --limit, --algorithm and --max-layers', async () => {
    const g = await write('wrapped.json', { graph });
    const run = async (...args: string[]) => JSON.parse((await runStrata(['plan-layers', '--graph', g, ...args])).stdout);
    expect(await run('--limit', '1')).toEqual([[glibc, hello, custom]]);
    expect(await run('--algorithm', 'popularity', '--limit', '2')).toEqual([[glibc], [hello, custom]]);
    expect(await run('--max-layers', '3', '--base-layers', '0')).toEqual(await run('--limit', '2'));
  });

  it("budgets layers as dockerTools does by default (maxLayers 100, one customisation layer, base layers)", async () => {
    // 150 unrelated paths: more than any budget, so the budget alone decides the layer count.
    const wide = Array.from({ length: 150 }, (_, i) => ({
      path: `/nix/store/${String(i).padStart(32, '0')}-p${i}`,
      narSize: 1000 + i,
      references: [],
    }));
    const g = await write('wide.json', wide);
    const count = async (...args: string[]) => (JSON.parse((await runStrata(['plan-layers', '--graph', g, ...args])).stdout) as unknown[]).length;
    expect(await count()).toBe(99);
    expect(await count('--base-layers', '4')).toBe(95);
    expect(await count('--max-layers', '50', '--base-layers', '4')).toBe(45);
    expect(await count('--limit', '120')).toBe(120);
    const both = await runStrata(['plan-layers', '--graph', g, '--limit', '5', '--base-layers', '1']);
    expect(both.exitCode).toBe(2);
    expect(both.stderr).toContain('--limit and --base-layers are mutually exclusive');
  });

  it('runs a JSON layering pipeline from a file', async () => {
    const g = await write('graph.json', graph);
    const p = await write('pipeline.json', [['subcomponent_out', [glibc]], ['over', 'rest', ['popularity_contest']]]);
    const result = await runStrata(['plan-layers', '--graph', g, '--pipeline', p, '--ignore', custom]);
    expect(result.exitCode).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual([[glibc], [hello]]);
  });

  it('prints a table with --table', async () => {
    const g = await write('graph.json', graph);
    const result = await runStrata(['plan-layers', '--graph', g, '--table', '--limit', '2']);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toBe(
      [
        'layer  size     paths  biggest paths',
        '1      1.9 MiB  1      glibc-2.40 (1.9 MiB)',
        '2      210 B    2      hello-2.12 (200 B), hello-customisation-layer (10 B)',
        '',
      ].join('\n'),
    );
  });

  it.each([
    [['--limit', '0'], "option '--limit <n>' argument '0' is invalid"],
    [['--algorithm', 'size'], "argument 'size' is invalid"],
    [['--max-layers', '2', '--base-layers', '1'], 'LAYER_BUDGET: maxLayers: 2 layers already used'],
    [['--limit', '2', '--max-layers', '5'], '--limit and --max-layers are mutually exclusive'],
  ])('exits 2 on bad flags %j', async (args, message) => {
    const g = await write('graph.json', graph);
    const result = await runStrata(['plan-layers', '--graph', g, ...args]);
    expect(result.exitCode).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain(message);
  });

  it.each([
    ['narSize as a string', [{ ...graph[1], narSize: '2' }], 'graph[0].narSize'],
    ['references missing', [{ path: glibc, narSize: 1 }], 'graph[0].references'],
    ['a duplicate path', [graph[1], graph[1]], `DUPLICATE_PATH: graph[1]: duplicate path ${glibc}`],
    ['an unknown reference', [graph[0]], `UNKNOWN_REFERENCE: graph: ${hello} references ${glibc}, which is not in the graph`],
    ['invalid JSON', '[{', 'invalid JSON'],
  ])('exits 2 on a graph with %s, naming the field', async (_, content, message) => {
    const g = await write('bad.json', content);
    const result = await runStrata(['plan-layers', '--graph', g]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain(message);
  });

  it('exits 2 on an unknown pipeline step and a missing graph file', async () => {
    const g = await write('graph.json', graph);
    const p = await write('bad-pipeline.json', [['popularity_contest'], ['limit', 3]]);
    const bad = await runStrata(['plan-layers', '--graph', g, '--pipeline', p]);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toContain('INVALID_PIPELINE: pipeline[1]: unknown step "limit"');
    const missing = await runStrata(['plan-layers', '--graph', file('nope.json')]);
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toContain(`--graph ${file('nope.json')}: ENOENT`);
  });

  describe.runIf(hasPeers('nix-build', 'nix'))('with a real Nix closure', () => {
    it('plans layers straight from `nix path-info --json --recursive` output', async () => {
      const closure = await buildHelloClosure({ message: 'strata plan-layers cli' });
      const info = await run('nix', ['path-info', '--json', '--recursive', '--extra-experimental-features', 'nix-command', closure.hello]);
      const g = await write('path-info.json', info.stdout);
      const result = await runStrata(['plan-layers', '--graph', g]);
      expect(result.exitCode).toBe(0);
      expect(JSON.parse(result.stdout)).toEqual([[closure.busybox], [closure.greeting], [closure.hello]]);
      const table = await runStrata(['plan-layers', '--graph', g, '--table', '--limit', '1']);
      expect(table.stdout).toMatch(/^layer +size +paths +biggest paths\n1 +\S+ \S+ +3 +busybox-static-1\.35 \(/);
    });
  });
});
