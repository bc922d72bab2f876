import { spawn } from 'node:child_process';
import { chmod, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildHelloClosure, type HelloClosure, hasPeers, makeTempDir, repoRoot, run, runStrata, type TempDir } from '@strata/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { streamToFile } from './_layered.js';

describe.runIf(hasPeers('nix-build', 'nix'))('strata build-layered with bad input', () => {
  let hello: HelloClosure;
  let dir: TempDir;
  beforeAll(async () => {
    hello = await buildHelloClosure();
    dir = await makeTempDir('strata-cli-layered-errors-');
  });
  afterAll(() => dir.remove());

  const build = (out: string, ...args: string[]) => runStrata(['build-layered', '--name', 'bad', '-o', out, ...args]);
  const leftovers = async () => (await readdir(dir.path)).filter((f) => f.includes('out') && !f.includes('overridden'));

  it('names a missing store path and writes nothing', async () => {
    const missing = '/nix/store/00000000000000000000000000000000-missing';
    const result = await build(join(dir.path, 'out1.tar'), '--contents', missing);
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toContain(missing);
    expect(await leftovers()).toEqual([]);
  });

  it('names a socket the scripts leave in the customisation layer by its image path', async () => {
    // A listening Unix socket left behind (the process exits without closing it).
    const script = `'${process.execPath}' -e "require('node:net').createServer().listen('./run.sock', () => process.exit(0))"`;
    const result = await build(join(dir.path, 'out-socket.tar'), '--contents', hello.hello, '--extra-commands', script);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/UNSUPPORTED_TYPE: layer: \/run\.sock is a socket/);
    expect(result.stderr).not.toContain('strata-customisation-');
    expect(await leftovers()).toEqual([]);
  });

  it('names an unknown config key (exit 2) and a maxLayers below 2', async () => {
    const bad = await build(join(dir.path, 'out2.tar'), '--contents', hello.hello, '--config', '{"Cmd":["x"],"Entrypiont":["y"]}');
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toBe('strata: spec.config: unknown key "Entrypiont"\n');
    const spec = join(dir.path, 'spec.json');
    await writeFile(spec, JSON.stringify({ name: 'x', contents: hello.hello, maxLayers: 1 }));
    const few = await runStrata(['build-layered', '--spec', spec, '-o', join(dir.path, 'out3.tar')]);
    expect(few.exitCode).toBe(2);
    expect(few.stderr).toBe(`strata: ${spec}.maxLayers: must be greater than 1, got 1\n`);
    // A flag overrides the spec.
    const overridden = await streamToFile(['--spec', spec, '--max-layers', '5'], join(dir.path, 'overridden.tar'));
    expect(overridden.exitCode).toBe(0);
    expect(await leftovers()).toEqual([]);
  });

  it('rejects a spec key it does not know, and a customisation key of the wrong type', async () => {
    const spec = join(dir.path, 'keys.json');
    await writeFile(spec, JSON.stringify({ name: 'x', maxLayer: 3 }));
    expect((await runStrata(['stream-layered', '--spec', spec])).stderr).toBe(`strata: ${spec}: unknown key "maxLayer"\n`);
    await writeFile(spec, JSON.stringify({ name: 'x', fakeRootCommands: ['chown 1 /x'] }));
    expect((await runStrata(['stream-layered', '--spec', spec])).stderr).toMatch(/fakeRootCommands: .*expected string/i);
    await writeFile(spec, JSON.stringify({ name: 'x', fakeNss: { extraUsers: [] } }));
    expect((await runStrata(['stream-layered', '--spec', spec])).stderr).toMatch(/fakeNss.*extraUsers/);
  });

  it('fails on an unwritable output, leaving nothing behind', async () => {
    const result = await build('/nonexistent-dir/out.tar', '--contents', hello.hello);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/nonexistent-dir/);
    // Node 20 has no zstd in zlib: strata brings libzstd itself, so no zstd program is needed.
    const zstd = await runStrata(['build-layered', '-o', join(dir.path, 'out4.tar'), '--name', 'x', '--contents', hello.hello, '--compressor', 'zstd'], {
      env: { PATH: '/nonexistent' },
    });
    expect(zstd.exitCode, zstd.stderr).toBe(0);
    const listing = await run('bash', ['-c', `zstd -dc '${join(dir.path, 'out4.tar')}' | tar -t`]);
    expect(listing.stdout).toContain('manifest.json');
    const again = await runStrata(['build-layered', '-o', join(dir.path, 'out5.tar'), '--name', 'x', '--contents', hello.hello, '--compressor', 'zstd']);
    expect(again.exitCode, again.stderr).toBe(0);
    expect((await readFile(join(dir.path, 'out5.tar'))).equals(await readFile(join(dir.path, 'out4.tar')))).toBe(true);
    expect(await leftovers()).toEqual(['out4.tar', 'out5.tar']);
  });

  it.runIf(hasPeers('fakeroot') && process.getuid?.() === 0)('names an unreadable file before writing a byte', async () => {
    // As root every file is readable: run the CLI as nobody over a chroot store holding a 0000 file.
    const root = join(dir.path, 'store');
    const path = '/nix/store/11111111111111111111111111111111-secret';
    await mkdir(join(root, path), { recursive: true });
    await writeFile(join(root, path, 'secret'), 'x');
    await chmod(join(root, path, 'secret'), 0o000);
    await chmod(dir.path, 0o777);
    const out = join(dir.path, 'stream.tar');
    const bin = join(repoRoot(), 'packages/cli/dist/bin.js');
    const result = await run('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'bash', '-c', `'${process.execPath}' '${bin}' stream-layered --name s --contents ${path} --store-root ${root} --closure-source scan > ${out}; echo "exit $?" >&2`], { allowFailure: true });
    expect(result.stderr).toContain(`${root}${path}/secret`);
    expect(result.stderr).toMatch(/exit 1\n$/);
    expect((await import('node:fs/promises').then((fs) => fs.stat(out))).size).toBe(0);
  });

  it('stops promptly when its reader goes away (EPIPE)', async () => {
    const root = join(dir.path, 'epipe');
    const path = '/nix/store/33333333333333333333333333333333-epipe';
    await mkdir(join(root, path), { recursive: true });
    await run('truncate', ['-s', '256M', join(root, path, 'zeros')]);
    const bin = join(repoRoot(), 'packages/cli/dist/bin.js');
    const args = `--name p --contents ${path} --store-root ${root} --closure-source scan`;
    const script = `set -o pipefail; timeout 20 '${process.execPath}' '${bin}' stream-layered ${args} | head -c 1000 | wc -c`;
    const result = await run('bash', ['-c', script], { allowFailure: true });
    expect(result.stdout.trim()).toBe('1000');
    // 1 (EPIPE reported), not 124 (timeout killed a process kept alive by a paused layer).
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toBe('strata: EPIPE: write EPIPE\n');
  });

  it('exits 130 on Ctrl-C and leaves no output file', async () => {
    // A store path with 2 GiB (sparse) keeps the build busy long enough to interrupt it.
    const root = join(dir.path, 'big');
    const path = '/nix/store/22222222222222222222222222222222-big';
    await mkdir(join(root, path), { recursive: true });
    await run('truncate', ['-s', '2G', join(root, path, 'zeros')]);
    const out = join(dir.path, 'out-interrupted.tar');
    const bin = join(repoRoot(), 'packages/cli/dist/bin.js');
    const args = [bin, 'build-layered', '--name', 'i', '--contents', path, '--store-root', root, '--closure-source', 'scan', '-o', out];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    let sent = false;
    const timer = setInterval(async () => {
      // Interrupt once, as soon as the temporary file exists, i.e. in the middle of writing.
      if (!sent && (await readdir(dir.path)).some((f) => f.startsWith('.out-interrupted'))) {
        sent = true;
        child.kill('SIGINT');
      }
    }, 20);
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    clearInterval(timer);
    expect(code).toBe(130);
    expect(stderr).toBe('strata: interrupted\n');
    expect((await readdir(dir.path)).filter((f) => f.includes('out-interrupted'))).toEqual([]);
  });

  it('stops a long fakeRootCommands on SIGTERM: exit 130, no script left running, no working directories left', async () => {
    const tmp = join(dir.path, 'tmp-sigterm');
    await mkdir(tmp);
    const started = join(dir.path, 'script-started');
    const spec = join(dir.path, 'sleepy.json');
    // An odd duration names this test's sleep among everything else running on the machine.
    await writeFile(spec, JSON.stringify({ name: 'sleepy', fakeRootCommands: `touch ${started}; sleep 37.25` }));
    const bin = join(repoRoot(), 'packages/cli/dist/bin.js');
    const out = join(dir.path, 'out-sleepy.tar');
    const child = spawn(process.execPath, [bin, 'build-layered', '--spec', spec, '-o', out], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, TMPDIR: tmp } });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    let sent = false;
    const timer = setInterval(async () => {
      // A signal to strata alone, as a CI timeout or `kill` sends it (Ctrl-C would reach the script too).
      if (!sent && (await readdir(dir.path)).includes('script-started')) {
        sent = true;
        child.kill('SIGTERM');
      }
    }, 20);
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    clearInterval(timer);
    expect(code).toBe(130);
    expect(stderr).toBe('strata: interrupted\n');
    expect(await readdir(tmp)).toEqual([]);
    const { stdout } = await run('ps', ['-eo', 'args=']);
    expect(stdout).not.toContain('sleep 37.25');
    expect((await readdir(dir.path)).filter((f) => f.includes('out-sleepy'))).toEqual([]);
  }, 20_000);
});
