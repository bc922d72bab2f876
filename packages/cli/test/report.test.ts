import { createHash, randomBytes } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  buildHelloClosure,
  type HelloClosure,
  hasPeers,
  makeTempDir,
  repoRoot,
  run,
  type RunningRegistry,
  runStrata,
  startRegistry,
  type TempDir,
} from '@strata/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readArchiveJson, streamToFile } from './_layered.js';

const sha256 = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/** Runs the CLI on a pseudo-terminal (util-linux `script`): stdout and stderr both reach it, as on a user's screen. */
function onTerminal(args: readonly string[], cwd: string) {
  const bin = join(repoRoot(), 'packages/cli/dist/bin.js');
  const command = [process.execPath, bin, ...args].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
  return run('script', ['-qefc', command, '/dev/null'], { cwd, allowFailure: true });
}

describe.runIf(hasPeers('nix-build', 'docker-registry', 'skopeo', 'script'))('--json and --quiet, and progress only on a terminal', () => {
  let hello: HelloClosure;
  let dir: TempDir;
  let reg: RunningRegistry;
  let archive: string;
  let noisy: string;
  const helloArgs = () => ['--contents', hello.hello, '--config', JSON.stringify({ Cmd: ['/bin/hello'] }), '--compressor', 'none'];
  beforeAll(async () => {
    hello = await buildHelloClosure({ message: 'reported by strata' });
    dir = await makeTempDir('strata-cli-report-');
    reg = await startRegistry();
    archive = join(dir.path, 'hello.tar');
    const built = await runStrata(['build-layered', '--name', 'report', '--tag', 'v1', ...helloArgs(), '-o', archive]);
    expect(built.exitCode, built.stderr).toBe(0);
    // A spec whose build prints notices: a contents conflict and what extraCommands writes.
    noisy = join(dir.path, 'noisy.json');
    await writeFile(noisy, JSON.stringify({ name: 'noisy', tag: 'v1', contents: [hello.hello, hello.hello], extraCommands: 'echo from-extraCommands' }));
  });
  afterAll(async () => {
    await reg.stop();
    await dir.remove();
  });

  it('build-layered --json: the file (relative to where it ran), its size, image ID, RepoTags and layers, as the archive has them', async () => {
    const result = await runStrata(['build-layered', '--name', 'report', '--tag', 'v2', ...helloArgs(), '-o', 'json.tar', '--json'], { cwd: dir.path });
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
    const report = JSON.parse(result.stdout) as { file: string; size: number; imageId: string; repoTags: string[]; layers: { diffId: string; size: number }[] };
    const file = join(dir.path, 'json.tar');
    expect(report.file).toBe(file);
    expect(report.size).toBe((await stat(file)).size);
    const { manifest, config } = await readArchiveJson(file);
    expect(report.imageId).toBe(`sha256:${manifest.Config.replace(/\.json$/, '')}`);
    expect(report.repoTags).toEqual(['report:v2']);
    expect(report.layers.map((l) => l.diffId)).toEqual(config.rootfs.diff_ids);
    const sizes = await Promise.all(manifest.Layers.map(async (member) => Number((await run('bash', ['-c', 'tar -xOf "$0" "$1" | wc -c', file, member])).stdout)));
    expect(report.layers.map((l) => l.size)).toEqual(sizes);
  });

  it('build-image --json reports as build-layered does, and --quiet leaves stderr empty', async () => {
    const result = await runStrata(['build-image', '--name', 'report-image', '--tag', 'v3', '--copy-to-root', hello.hello, '-o', 'image.tar', '--compressor', 'none', '--json'], { cwd: dir.path });
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
    const report = JSON.parse(result.stdout) as { file: string; imageId: string; repoTags: string[]; layers: { diffId: string }[] };
    const file = join(dir.path, 'image.tar');
    expect(report.file).toBe(file);
    const { manifest, config } = await readArchiveJson(file);
    expect(report.imageId).toBe(`sha256:${manifest.Config.replace(/\.json$/, '')}`);
    expect(report.repoTags).toEqual(['report-image:v3']);
    expect(report.layers.map((l) => l.diffId)).toEqual(config.rootfs.diff_ids);
    const quiet = await runStrata(['build-image', '--name', 'report-image', '--copy-to-root', hello.hello, '--contents', hello.hello, '-o', join(dir.path, 'q.tar'), '--quiet']);
    expect(quiet.exitCode).toBe(2); // contents with copyToRoot is an error, and errors still show under --quiet
    expect(quiet.stderr).toMatch(/contents/);
  });

  it('build-layered and stream-layered --quiet: no notices, nothing on stderr; without it the notices show', async () => {
    const loud = await runStrata(['build-layered', '--spec', noisy, '--compressor', 'none', '-o', join(dir.path, 'loud.tar')]);
    expect(loud.stderr).toContain('strata: from-extraCommands');
    expect(loud.stderr).toContain('strata: contents conflict');
    const quiet = await runStrata(['build-layered', '--spec', noisy, '--compressor', 'none', '-o', join(dir.path, 'quiet.tar'), '--quiet']);
    expect(quiet.exitCode).toBe(0);
    expect(quiet.stderr).toBe('');
    expect(quiet.stdout).toBe('');
    expect((await readFile(join(dir.path, 'quiet.tar'))).equals(await readFile(join(dir.path, 'loud.tar')))).toBe(true);
    const streamed = await streamToFile(['--spec', noisy, '-q'], join(dir.path, 'streamed.tar'));
    expect(streamed.exitCode).toBe(0);
    expect(streamed.stderr).toBe('');
    expect((await readFile(join(dir.path, 'streamed.tar'))).equals(await readFile(join(dir.path, 'loud.tar')))).toBe(true);
  });

  it('closure --json is the list, --quiet leaves the table; plan-layers --json is its default, --quiet drops warnings', async () => {
    const json = await runStrata(['closure', hello.hello, '--scan', '--json']);
    const list = JSON.parse(json.stdout) as { path: string; narSize: number; narHash: string; references: string[] }[];
    expect(list.map((p) => p.path).sort()).toEqual([hello.busybox, hello.greeting, hello.hello].sort());
    for (const p of list) expect(Object.keys(p)).toEqual(['path', 'narSize', 'narHash', 'references']);
    const table = await runStrata(['closure', hello.hello, '--scan']);
    const quiet = await runStrata(['closure', hello.hello, '--scan', '--quiet']);
    expect(quiet.stdout).toBe(table.stdout);
    expect(quiet.stderr).toBe('');

    const graph = join(dir.path, 'graph.json');
    await writeFile(graph, JSON.stringify(list));
    const plain = await runStrata(['plan-layers', '--graph', graph, '--ignore', '/nix/store/x-absent']);
    expect(plain.stderr).toMatch(/warning: ignored path/);
    const both = await runStrata(['plan-layers', '--graph', graph, '--ignore', '/nix/store/x-absent', '--json', '--quiet']);
    expect(both.stderr).toBe('');
    expect(both.stdout).toBe(plain.stdout);
    expect((JSON.parse(both.stdout) as string[][]).flat().sort()).toEqual([hello.busybox, hello.greeting, hello.hello].sort());
    const clash = await runStrata(['plan-layers', '--graph', graph, '--json', '--table']);
    expect(clash.exitCode).toBe(2);
    expect(clash.stderr).toMatch(/--table and --json/);
  });

  it('merge and export --json say what they wrote; export refuses --json when the tar goes to stdout', async () => {
    const merged = await runStrata(['merge', archive, join(dir.path, 'json.tar'), '-o', 'merged.tar', '--json'], { cwd: dir.path });
    expect(merged.stderr).toBe('');
    const m = JSON.parse(merged.stdout) as { file: string; size: number; images: { imageId: string; repoTags: string[] }[] };
    expect(m.file).toBe(join(dir.path, 'merged.tar'));
    expect(m.size).toBe((await stat(m.file)).size);
    expect(m.images.map((i) => i.repoTags)).toEqual([['report:v1'], ['report:v2']]);
    const manifest = JSON.parse((await run('tar', ['-xOf', m.file, 'manifest.json'])).stdout) as { Config: string }[];
    expect(m.images.map((i) => i.imageId)).toEqual(manifest.map((e) => `sha256:${e.Config.replace(/\.json$/, '')}`));
    const quietMerge = await runStrata(['merge', archive, '-o', join(dir.path, 'merged-q.tar'), '-q']);
    expect([quietMerge.exitCode, quietMerge.stdout, quietMerge.stderr]).toEqual([0, '', '']);

    const exported = await runStrata(['export', archive, '-o', 'rootfs.tar', '--json'], { cwd: dir.path });
    expect(exported.stderr).toBe('');
    const e = JSON.parse(exported.stdout) as { file: string; size: number; entries: number };
    expect(e.file).toBe(join(dir.path, 'rootfs.tar'));
    expect(e.size).toBe((await stat(e.file)).size);
    expect(e.entries).toBe((await run('tar', ['-tf', e.file])).stdout.split('\n').filter(Boolean).length);
    const quietExport = await runStrata(['export', archive, '-o', join(dir.path, 'rootfs-q.tar'), '--quiet']);
    expect([quietExport.exitCode, quietExport.stdout, quietExport.stderr]).toEqual([0, '', '']);
    const refused = await runStrata(['export', archive, '-o', '-', '--json']);
    expect(refused.exitCode).toBe(2);
    expect(refused.stdout).toBe('');
  });

  it('push --json gives the reference, digest and each layer with its status; --quiet prints only the reference', async () => {
    const target = `${reg.host}/strata/report-${randomBytes(3).toString('hex')}:v1`;
    const first = await runStrata(['push', archive, target, '--json']);
    expect(first.stderr).toBe('');
    expect(first.exitCode).toBe(0);
    type Pushed = { reference: string; digest: string; layers: { digest: string; size: number; status: string }[]; config: { digest: string }; uploadedBytes: number };
    const pushed = JSON.parse(first.stdout) as Pushed;
    expect(pushed.reference).toBe(`${target.replace(/:v1$/, '')}@${pushed.digest}`);
    const manifest = JSON.parse((await run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${target}`])).stdout) as {
      config: { digest: string; size: number };
      layers: { digest: string; size: number }[];
    };
    expect(pushed.layers.map((l) => [l.digest, l.size, l.status])).toEqual(manifest.layers.map((l) => [l.digest, l.size, 'uploaded']));
    expect(pushed.config.digest).toBe(manifest.config.digest);
    expect(pushed.uploadedBytes).toBe(manifest.layers.reduce((sum, l) => sum + l.size, manifest.config.size));
    const again = await runStrata(['push', archive, target, '--json']);
    const second = JSON.parse(again.stdout) as Pushed;
    expect(second.layers.map((l) => l.status)).toEqual(manifest.layers.map(() => 'exists'));
    expect(second.uploadedBytes).toBe(0);
    const quiet = await runStrata(['push', archive, target, '--quiet']);
    expect([quiet.exitCode, quiet.stdout, quiet.stderr]).toEqual([0, `${pushed.reference}\n`, '']);
  });

  it('pull --json gives the file, its size, the digest and image ID; --quiet prints nothing', async () => {
    const pushed = (await runStrata(['push', archive, `${reg.host}/strata/report-pull:v1`])).stdout.trim();
    const result = await runStrata(['pull', pushed, '-o', 'pulled.tar', '--final-name', 'report-pulled', '--json'], { cwd: dir.path });
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
    const pulled = JSON.parse(result.stdout) as { file: string; size: number; reference: string; digest: string; imageId: string; repoTags: string[] };
    expect(pulled.file).toBe(join(dir.path, 'pulled.tar'));
    expect(pulled.size).toBe((await stat(pulled.file)).size);
    expect(pulled.reference).toBe(pushed);
    expect(pulled.digest).toBe(pushed.split('@')[1]);
    const { manifest } = await readArchiveJson(pulled.file);
    // The config is JSON text: UTF-8 survives the round trip through a string.
    const configBytes = Buffer.from((await run('tar', ['-xOf', pulled.file, manifest.Config])).stdout, 'utf8');
    expect(pulled.imageId).toBe(sha256(configBytes));
    expect(pulled.repoTags).toEqual(['report-pulled:latest']);
    const quiet = await runStrata(['pull', pushed, '-o', join(dir.path, 'pulled-q.tar'), '--quiet']);
    expect([quiet.exitCode, quiet.stdout, quiet.stderr]).toEqual([0, '', '']);
  });

  it('pull draws progress on a terminal (gzip layers inflated straight into the archive) and never on a pipe', async () => {
    // A registry of its own: skopeo reuses blobs it has seen in a registry instead of compressing them.
    const other = await startRegistry();
    try {
      await run('skopeo', ['--insecure-policy', 'copy', '--dest-tls-verify=false', `docker-archive:${archive}`, `docker://${other.host}/strata/gz:1`]);
      const shown = await onTerminal(['pull', `${other.host}/strata/gz:1`, '-o', 'tty.tar'], dir.path);
      expect(shown.exitCode, shown.stdout).toBe(0);
      // Uncompressed sizes are learnt while writing: bytes and rate, no total.
      expect(shown.stdout).toMatch(/\r\x1b\[Klayer \d+ of \d+ {2}[\d.]+ (B|KiB|MiB) {2}[\d.]+ (B|KiB|MiB)\/s/);
      expect(shown.stdout).toMatch(/pulled .*\/strata\/gz@sha256:[a-f0-9]{64} as strata\/gz:latest/);
      const piped = await runStrata(['pull', `${other.host}/strata/gz:1`, '-o', join(dir.path, 'piped.tar')]);
      expect(piped.exitCode).toBe(0);
      expect(piped.stderr).not.toMatch(/[\r\x1b]/);
      expect(piped.stderr).toMatch(/layer 1\/\d+ sha256:[a-f0-9]{64} written, [\d.]+ (B|KiB|MiB) uncompressed/);
      const quiet = await onTerminal(['pull', `${other.host}/strata/gz:1`, '-o', 'tty-q.tar', '--quiet'], dir.path);
      expect([quiet.exitCode, quiet.stdout]).toEqual([0, '']);
    } finally {
      await other.stop();
    }
  });
});
