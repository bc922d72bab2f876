import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { freePort, hasPeers, makeTempDir, run, runStrata, startRegistry, type RunningRegistry, type TempDir } from '@strata/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The exit-code contract (packages/cli/src/errors.ts), one command family at a time: 2 and a
// message naming the flag, spec key or file at fault when the input is wrong, 1 when running failed.

let dir: TempDir;
let tmp: string;
beforeAll(async () => {
  dir = await makeTempDir('strata-cli-exit-codes-');
  // Each command runs with its own TMPDIR, so work directories left behind can be counted.
  tmp = join(dir.path, 'tmp');
  await mkdir(tmp);
});
afterAll(() => dir.remove());

const strata = (args: readonly string[], env: Record<string, string> = {}) => runStrata(args, { env: { TMPDIR: tmp, ...env } });
const file = (name: string) => join(dir.path, name);
const DIGEST = `sha256:${'b'.repeat(64)}`;

/** Nothing left next to the outputs or in TMPDIR. */
async function leftovers(prefix: string): Promise<string[]> {
  return [...(await readdir(dir.path)).filter((f) => f.includes(prefix)), ...(await readdir(tmp))];
}

/** A docker-archive made with GNU tar: one layer (a tar holding `f`), with the given manifest.json and diff_ids. */
async function archive(name: string, manifest: unknown, diffIds: readonly string[]): Promise<string> {
  const work = file(`${name}.d`);
  await mkdir(join(work, 'l'), { recursive: true });
  await writeFile(join(work, 'l/f'), 'hi\n');
  await run('tar', ['-C', join(work, 'l'), '-cf', join(work, 'layer.tar'), 'f']);
  await writeFile(join(work, 'config.json'), JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: diffIds } }));
  await writeFile(join(work, 'manifest.json'), JSON.stringify(manifest));
  await run('tar', ['-C', work, '-cf', file(name), 'manifest.json', 'config.json', 'layer.tar']);
  return file(name);
}
const oneImage = [{ Config: 'config.json', RepoTags: ['base:1'], Layers: ['layer.tar'] }];

describe('closure', () => {
  it('exits 2 naming the graph file, 1 when nix cannot run', async () => {
    const missing = await strata(['closure', '--graph', file('nope.json')]);
    expect([missing.exitCode, missing.stderr]).toEqual([2, `strata: NOT_FOUND: closure: cannot read graph file ${file('nope.json')}: ENOENT: no such file or directory, stat '${file('nope.json')}'\n`]);
    await writeFile(file('graph.json'), JSON.stringify([{ path: '/nix/store/x', narSize: 1, references: [] }]));
    const bad = await strata(['closure', '--graph', file('graph.json')]);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toContain(`INVALID_NAME: closure: ${file('graph.json')}: path /nix/store/x`);
    const root = '/nix/store/00000000000000000000000000000000-gone';
    const noRoot = await strata(['closure', '--scan', root]);
    expect([noRoot.exitCode, noRoot.stderr]).toEqual([2, `strata: NOT_FOUND: closure: root ${root} does not exist in the store\n`]);
    const store = file('closure-store');
    await mkdir(join(store, root), { recursive: true });
    const noNix = await strata(['closure', '--source', 'nix', '--store-root', store, root], { PATH: '/nonexistent' });
    expect([noNix.exitCode, noNix.stderr]).toEqual([1, 'strata: NIX_FAILED: closure: cannot run nix: spawn nix ENOENT\n']);
  });
});

describe('plan-layers', () => {
  it('exits 2 naming the graph or pipeline file a planning error is about', async () => {
    const [a, b] = ['/nix/store/00000000000000000000000000000000-a', '/nix/store/11111111111111111111111111111111-b'];
    await writeFile(file('plan-graph.json'), JSON.stringify([{ path: a, narSize: 1, references: [b] }]));
    const unknown = await strata(['plan-layers', '--graph', file('plan-graph.json')]);
    expect([unknown.exitCode, unknown.stderr]).toEqual([2, `strata: --graph ${file('plan-graph.json')}: UNKNOWN_REFERENCE: graph: ${a} references ${b}, which is not in the graph\n`]);
    await writeFile(file('plan-graph.json'), JSON.stringify([{ path: a, narSize: 1, references: [] }]));
    await writeFile(file('pipeline.json'), JSON.stringify([['bogus']]));
    const step = await strata(['plan-layers', '--graph', file('plan-graph.json'), '--pipeline', file('pipeline.json')]);
    expect(step.exitCode).toBe(2);
    expect(step.stderr).toMatch(new RegExp(`^strata: --pipeline ${file('pipeline.json')}: INVALID_PIPELINE: pipeline\\[0\\]: unknown step "bogus"`));
  });
});

describe('stream-layered and build-layered', () => {
  it('exit 2 naming the key for a name or tag outside the reference grammar, and write nothing', async () => {
    for (const name of ['Eco X', '../../etc/x', 'app\nx']) {
      const result = await strata(['build-layered', '--name', name, '-o', file('out-name.tar')]);
      expect(result.exitCode, name).toBe(2);
      expect(result.stderr).toBe(`strata: spec.name: ${JSON.stringify(name)} is not a valid image name: lower-case letters and digits, joined by ".", "_", "__" or "-" within each "/"-separated component, optionally after a registry host[:port]/ (e.g. registry.example.com:5000/team/app)\n`);
    }
    const tag = await strata(['build-layered', '--name', 'x', '--tag', 'a b', '-o', file('out-name.tar')]);
    expect([tag.exitCode, tag.stderr]).toEqual([2, 'strata: tag: "a b" is not a valid tag ([A-Za-z0-9_][A-Za-z0-9._-]{0,127})\n']);
    // nixpkgs lower-cases names; registry hosts and ports are part of a name.
    for (const name of ['My-App', 'registry-1.docker.io/image', 'localhost:5000/x']) {
      const ok = await strata(['build-layered', '--name', name, '--tag', 't', '--compressor', 'none', '-o', file('out-name-ok.tar')]);
      expect(ok.exitCode, ok.stderr).toBe(0);
      const { stdout } = await run('tar', ['-xOf', file('out-name-ok.tar'), 'manifest.json']);
      expect(JSON.parse(stdout)[0].RepoTags).toEqual([`${name.toLowerCase()}:t`]);
      await rm(file('out-name-ok.tar'));
    }
    expect(await leftovers('out-name.tar')).toEqual([]);
  });

  it('fails a base image whose layers contradict its diff_ids, naming the layer, and leaves nothing', async () => {
    const bad = await archive('bad-diffids.tar', oneImage, [DIGEST]);
    for (const args of [['build-layered', '-o', file('out-base.tar')], ['stream-layered']]) {
      const result = await strata([...args, '--name', 'x', '--from-image', bad]);
      expect(result.exitCode, result.stderr).toBe(2);
      expect(result.stderr).toMatch(
        new RegExp(`^strata: DIGEST_MISMATCH: ${bad}: base:1: layer 1 \\(layer\\.tar\\): its bytes hash to sha256:[a-f0-9]{64}, but the image declares diffID ${DIGEST}\\n$`),
      );
    }
    const notDigest = await archive('not-digest.tar', oneImage, ['layer-one']);
    const result = await strata(['build-layered', '--name', 'x', '--from-image', notDigest, '-o', file('out-base.tar')]);
    expect([result.exitCode, result.stderr]).toEqual([2, `strata: INVALID_IMAGE: ${notDigest}: base:1: rootfs.diff_ids[0] is not a sha256 digest: "layer-one"\n`]);
    expect(await leftovers('out-base')).toEqual([]);
  });

  it('refuses a base image whose manifest.json lists no image, instead of dropping it', async () => {
    const empty = await archive('empty-manifest.tar', [], [DIGEST]);
    const result = await strata(['build-layered', '--name', 'x', '--from-image', empty, '-o', file('out-empty.tar')]);
    expect([result.exitCode, result.stderr]).toEqual([2, `strata: INVALID_IMAGE: ${empty}: manifest.json lists no image\n`]);
    expect(await leftovers('out-empty')).toEqual([]);
  });

  it('exits 2 naming the pipeline file, the output flag; 1 naming the script that failed', async () => {
    await writeFile(file('layering.json'), JSON.stringify([['bogus']]));
    const graph = file('layering-graph.json');
    const path = '/nix/store/00000000000000000000000000000000-a';
    await writeFile(graph, JSON.stringify([{ path, narSize: 1, references: [] }]));
    const store = file('layering-store');
    await mkdir(join(store, path), { recursive: true });
    const step = await strata(['stream-layered', '--name', 'x', '--contents', path, '--store-root', store, '--references-graph', graph, '--layering-pipeline', file('layering.json')]);
    expect(step.exitCode).toBe(2);
    expect(step.stderr).toMatch(new RegExp(`^strata: layeringPipeline ${file('layering.json')}: pipeline\\[0\\]: unknown step "bogus"`));
    const noDir = await strata(['build-layered', '--name', 'x', '-o', file('missing/out.tar')]);
    expect([noDir.exitCode, noDir.stderr]).toEqual([2, `strata: -o ${file('missing/out.tar')}: the directory ${file('missing')} does not exist\n`]);
    const isDir = await strata(['build-layered', '--name', 'x', '-o', tmp]);
    expect([isDir.exitCode, isDir.stderr]).toEqual([2, `strata: -o ${tmp}: is a directory; give the path of the file to write\n`]);
    const device = await strata(['build-layered', '--name', 'x', '-o', '/dev/null']);
    expect([device.exitCode, device.stderr]).toEqual([2, 'strata: -o /dev/null: is not a regular file; give the path of the file to write\n']);
    const script = await strata(['build-layered', '--name', 'x', '--extra-commands', 'echo oops >&2; exit 3', '-o', file('out-script.tar')]);
    expect([script.exitCode, script.stderr]).toEqual([1, 'strata: SCRIPT_FAILED: extraCommands failed (exit 3):\noops\n']);
    expect(await leftovers('out-script')).toEqual([]);
  });
});

describe('stream-layered and build-layered with hostile values', () => {
  it('exit 2 for owners, times, contents and bundles no image can hold, and write times past 2038 correctly', async () => {
    const uid = await strata(['build-layered', '--name', 'x', '--uid', String(2 ** 40), '-o', file('out-hostile.tar')]);
    expect([uid.exitCode, uid.stderr]).toEqual([2, 'strata: spec.uid: must be a whole number from 0 to 4294967294, got 1099511627776\n']);
    const spec = file('hostile-spec.json');
    await writeFile(spec, JSON.stringify({ name: 'x', mtime: 1e12 }));
    const mtime = await strata(['build-layered', '--spec', spec, '-o', file('out-hostile.tar')]);
    expect(mtime.exitCode).toBe(2);
    expect(mtime.stderr).toMatch(new RegExp(`^strata: ${spec}\\.mtime: must be from 1970-01-01T00:00:00Z to 2242-03-16T12:56:31Z`));
    // --contents naming a directory that holds TMPDIR used to copy itself into itself until the disk was full.
    const contents = await strata(['build-layered', '--name', 'x', '--contents', dir.path, '-o', file('out-hostile.tar')]);
    expect(contents.exitCode).toBe(2);
    expect(contents.stderr).toMatch(new RegExp(`^strata: contents: ${dir.path} contains the directory the layer is built in \\(${tmp}/strata-customisation-\\w+/layer\\)`));
    const bundle = await strata(['build-layered', '--name', 'x', '--ca-certificates', '/dev/zero', '-o', file('out-hostile.tar')]);
    expect([bundle.exitCode, bundle.stderr]).toEqual([2, 'strata: caCertificates: /dev/zero is a device, not a file; give a CA bundle file\n']);
    expect(await leftovers('out-hostile')).toEqual([]);

    const path = '/nix/store/00000000000000000000000000000000-later';
    const store = file('later-store');
    await mkdir(join(store, path), { recursive: true });
    await writeFile(join(store, path, 'f'), 'x');
    const later = await strata(['build-layered', '--name', 'x', '--contents', path, '--store-root', store, '--closure-source', 'scan', '--mtime', '2100-01-01T00:00:00Z', '--compressor', 'none', '-o', file('later.tar')]);
    expect(later.exitCode, later.stderr).toBe(0);
    const { stdout } = await run('bash', ['-c', `tar -xOf '${file('later.tar')}' layers/001.tar | tar --full-time -tvf - | grep ${path.slice(1)}/f`]);
    expect(stdout).toMatch(/ 2100-01-01 00:00:00 \/nix\/store\/0{32}-later\/f\n$/);
  });
});

describe('push and pull', () => {
  it('exit 2 on usage errors before any request, 1 when the registry cannot be reached', async () => {
    const spec = file('push-spec.json');
    await writeFile(spec, JSON.stringify({ name: 'x' }));
    const badRef = await strata(['push', spec, 'Not A Reference']);
    expect([badRef.exitCode, badRef.stderr]).toEqual([2, 'strata: reference "Not A Reference": repository "library/Not A Reference" must be lowercase path components\n']);
    const missing = await strata(['push', file('nope.tar'), '127.0.0.1:1/x']);
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toMatch(new RegExp(`^strata: ${file('nope.tar')}: cannot open: ENOENT`));
    const directory = await strata(['push', tmp, '127.0.0.1:1/x']);
    expect([directory.exitCode, directory.stderr]).toEqual([2, `strata: ${tmp}: not a regular file; give a docker-archive or a spec file\n`]);
    const digest = `sha256:${'a'.repeat(64)}`;
    const port = await freePort();
    const finalName = await strata(['pull', `127.0.0.1:${port}/x@${digest}`, '--final-name', 'A B', '-o', file('pulled.tar')]);
    expect(finalName.exitCode).toBe(2);
    expect(finalName.stderr).toMatch(/^strata: --final-name: "A B" is not a valid image name: /);
    const outDir = await strata(['pull', `127.0.0.1:${port}/x@${digest}`, '-o', tmp]);
    expect([outDir.exitCode, outDir.stderr]).toEqual([2, `strata: -o ${tmp}: is a directory; give the path of the file to write\n`]);
    const refused = await strata(['pull', `127.0.0.1:${port}/x@${digest}`, '-o', file('pulled.tar')]);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toContain(`NETWORK: GET http://127.0.0.1:${port}/v2/`);
    expect(await leftovers('pulled')).toEqual([]);
  });

  it('stops asking the registry when the image cannot be made, and exits at once', async () => {
    // push asks the registry how it authenticates while it makes the image. This one accepts
    // connections and never answers: a question left running would hold strata for its timeouts.
    const silent = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = silent.address() as AddressInfo;
      const spec = file('push-missing.json');
      await writeFile(spec, JSON.stringify({ name: 'x', contents: [file('no-such-contents')] }));
      const failed = await strata(['push', spec, `127.0.0.1:${port}/x:1`, '--connect-timeout', '600', '--idle-timeout', '600']);
      expect(failed.exitCode).toBe(2);
      expect(failed.stderr).toContain('no-such-contents');
      expect(failed.stderr).not.toContain(`127.0.0.1:${port}`);
    } finally {
      silent.close();
    }
  }, 30_000);

  describe.runIf(hasPeers('docker-registry'))('with a registry', () => {
    let reg: RunningRegistry;
    beforeAll(async () => {
      reg = await startRegistry();
    });
    afterAll(() => reg?.stop());

    it('refuses to push a base image whose layers contradict its diff_ids, and the tag never appears', async () => {
      const bad = await archive('push-bad.tar', oneImage, [DIGEST]);
      const spec = file('push-from-bad.json');
      await writeFile(spec, JSON.stringify({ name: 'x', fromImage: bad }));
      for (const [source, repo] of [[bad, 'strata/bad-archive'], [spec, 'strata/bad-spec']] as const) {
        const result = await strata(['push', source, `${reg.host}/${repo}:v1`]);
        expect(result.exitCode, result.stderr).toBe(2);
        expect(result.stderr).toMatch(new RegExp(`strata: DIGEST_MISMATCH: ${bad}: base:1: layer 1 \\(layer\\.tar\\): its bytes hash to sha256:[a-f0-9]{64}, but the image declares diffID ${DIGEST}\\n$`));
        expect(result.stdout).toBe('');
        const tags = await fetch(`${reg.url}/v2/${repo}/manifests/v1`, { method: 'HEAD' });
        expect(tags.status).toBe(404);
      }
      const empty = await archive('push-empty.tar', [], [DIGEST]);
      const result = await strata(['push', empty, `${reg.host}/strata/empty:v1`]);
      expect([result.exitCode, result.stderr]).toEqual([2, `strata: INVALID_IMAGE: ${empty}: manifest.json lists no image\n`]);
    });
  });
});

describe('vm run', () => {
  it('exits 2 naming the flag or file, and for a component this machine lacks', async () => {
    const script = file('script.sh');
    await writeFile(script, 'true\n');
    const root = await strata(['vm', 'run', '--root', file('no-root'), script]);
    expect([root.exitCode, root.stderr]).toEqual([2, `strata: vm: root ${JSON.stringify(file('no-root'))} is not a directory\n`]);
    const memory = await strata(['vm', 'run', '--root', tmp, '--memory', 'lots', script]);
    expect([memory.exitCode, memory.stderr]).toEqual([2, 'strata: vm run: --memory expects a positive integer, got "lots"\n']);
    const noScript = await strata(['vm', 'run', '--root', tmp, file('nope.sh')]);
    expect(noScript.exitCode).toBe(2);
    expect(noScript.stderr).toMatch(new RegExp(`^strata: vm run: cannot read script ${file('nope.sh')}: ENOENT`));
    const empty = file('vm-root');
    await mkdir(empty);
    const lacking = await strata(['vm', 'run', '--root', empty, script], { PATH: '/nonexistent' });
    expect(lacking.exitCode).toBe(2);
    expect(lacking.stderr).toMatch(/^strata: MISSING_COMPONENT: vm: .* not found/);
  });
});
