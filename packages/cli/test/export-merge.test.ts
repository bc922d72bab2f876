import { createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { pipeline } from 'node:stream/promises';
import { gzipSync } from 'node:zlib';
import { writeTar } from '@strata/layer';
import { createImageConfig, readDockerArchive, writeDockerArchive } from '@strata/manifest';
import { buildHelloClosure, type HelloClosure, hasPeers, makeTempDir, repoRoot, run, runStrata, type TempDir } from '@strata/test-utils';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

describe.runIf(hasPeers('nix-build'))('strata export and strata merge', () => {
  let hello: HelloClosure;
  let dir: TempDir;
  let work: string;
  let image: string;
  let gzImage: string;
  /** The commands' working files go here, so the tests can see that nothing is left behind. */
  const env = () => ({ env: { TMPDIR: work } });

  beforeAll(async () => {
    hello = await buildHelloClosure();
    dir = await makeTempDir('strata-cli-export-');
    work = join(dir.path, 'tmp');
    await mkdir(work);
    image = join(dir.path, 'hello.tar');
    const built = await runStrata(['build-layered', '--name', 'cli-export', '--tag', '1', '--contents', hello.hello, '--contents', hello.busybox, '-o', image, '--compressor', 'none']);
    expect(built.exitCode).toBe(0);
    gzImage = join(dir.path, 'other.tar.gz');
    const other = await runStrata(['build-layered', '--name', 'cli-other', '--tag', '2', '--contents', hello.busybox, '-o', gzImage]);
    expect(other.exitCode).toBe(0);
  });
  afterAll(() => dir.remove());
  beforeEach(async () => {
    expect(await readdir(work)).toEqual([]);
  });

  /** Outputs of failed commands (all named out*) and temporary files of atomic writes. */
  const leftovers = async () => (await readdir(dir.path)).filter((f) => f.startsWith('out') || f.includes('.partial'));

  it('export writes the tar atomically, and -o - streams the same bytes to stdout', async () => {
    const out = join(dir.path, 'rootfs.tar');
    const result = await runStrata(['export', image, '-o', out], env());
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^exported \d+ entries \(.+\) to .*rootfs\.tar\n$/);
    const piped = join(dir.path, 'piped.tar');
    const bin = join(repoRoot(), 'packages/cli/dist/bin.js');
    await run('bash', ['-c', `'${process.execPath}' '${bin}' export '${image}' -o - > '${piped}'`], env());
    expect((await readFile(piped)).equals(await readFile(out))).toBe(true);
    const { stdout } = await run('tar', ['-tf', out]);
    expect(stdout.split('\n')).toContain('./bin/hello');
    expect(await readdir(work)).toEqual([]);
    expect(await leftovers()).toEqual([]);
  });

  it('export of a file that is not an image, or of a name:tag the archive lacks: exit 2, nothing left', async () => {
    const junk = join(dir.path, 'junk.tar');
    await writeFile(junk, 'not an image at all\n'.repeat(100));
    const notImage = await runStrata(['export', junk, '-o', join(dir.path, 'out.tar')], env());
    expect(notImage.exitCode).toBe(2);
    expect(notImage.stderr).toBe(`strata: INVALID_ARCHIVE: ${junk}: bad tar header checksum at byte 0\n`);
    const missing = await runStrata(['export', join(dir.path, 'nope.tar'), '-o', join(dir.path, 'out.tar')], env());
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toContain('nope.tar');
    const wrongTag = await runStrata(['export', gzImage, '--from-image-name', 'cli-other', '--from-image-tag', '9', '-o', join(dir.path, 'out.tar')], env());
    expect(wrongTag.exitCode).toBe(2);
    expect(wrongTag.stderr).toBe(`strata: INVALID_IMAGE: ${gzImage}: no image cli-other:9 (the archive has cli-other:2)\n`);
    const half = await runStrata(['export', image, '--from-image-name', 'cli-export', '-o', join(dir.path, 'out.tar')], env());
    expect(half.exitCode).toBe(2);
    expect(half.stderr).toBe('strata: export: --from-image-tag is required with --from-image-name\n');
    const found = await runStrata(['export', gzImage, '--from-image-name', 'cli-other', '--from-image-tag', '2', '-o', join(dir.path, 'from-gz.tar')], env());
    expect(found.exitCode).toBe(0);
    expect(await leftovers()).toEqual([]);
  });

  it('export over --disk-size, and of a layer whose names climb out of the root: exit 2, nothing written anywhere', async () => {
    const small = await runStrata(['export', image, '--disk-size', '1', '-o', join(dir.path, 'out.tar')], env());
    expect(small.exitCode).toBe(2);
    expect(small.stderr).toMatch(/^strata: LIMIT_EXCEEDED: hello\.tar: layer \d+ of \d+, entry ".+": the image's files pass maxBytes \(1048576 bytes\)\n$/);
    const owner = { uid: 0, gid: 0, uname: '', gname: '', mtime: 1, mode: 0o644 };
    const layer = await buffer(
      writeTar([
        { ...owner, name: 'fine', type: 'file', size: 2, body: Buffer.from('ok') },
        { ...owner, name: '../../escaped', type: 'file', size: 5, body: Buffer.from('pwned') },
      ]),
    );
    const { rootfs: _, ...template } = createImageConfig([''], { architecture: 'amd64' });
    const hostile = join(dir.path, 'hostile.tar');
    await pipeline(writeDockerArchive([{ size: layer.length, open: () => Readable.from([layer]) }], template, { repoTags: ['hostile:1'] }), createWriteStream(hostile));
    const result = await runStrata(['export', hostile, '-o', join(dir.path, 'out.tar')], env());
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toBe(`strata: UNSAFE_ENTRY: hostile.tar: layer 1 of 1, entry "../../escaped": the name climbs above the root\n`);
    expect(await leftovers()).toEqual([]);
    expect(await readdir(work)).toEqual([]);
    expect((await readdir(dir.path)).includes('escaped')).toBe(false);
  });

  it('merge: compresses as the last input is unless --compressor says, and every image is in the archive with its tags', async () => {
    const followed = join(dir.path, 'merged.tar.gz');
    const result = await runStrata(['merge', image, gzImage, '-o', followed], env());
    expect(result.exitCode).toBe(0);
    expect(result.stderr).toBe(`merged 2 images into ${followed}: cli-export:1; cli-other:2\n`);
    expect((await readFile(followed)).subarray(0, 2).toString('hex')).toBe('1f8b');
    const plain = join(dir.path, 'merged.tar');
    expect((await runStrata(['merge', gzImage, image, '-o', plain], env())).exitCode).toBe(0);
    const { images } = await readDockerArchive(plain);
    expect(images.map((i) => i.repoTags)).toEqual([['cli-other:2'], ['cli-export:1']]);
    // A multi-image input gives all its images, in its order.
    const again = join(dir.path, 'merged-again.tar');
    expect((await runStrata(['merge', plain, image, '-o', again], env())).exitCode).toBe(0);
    expect((await readDockerArchive(again)).images.map((i) => i.repoTags)).toEqual([['cli-other:2'], ['cli-export:1'], ['cli-export:1']]);
    expect((await runStrata(['merge', gzImage, image, '-o', join(dir.path, 'merged.tar.zst'), '--compressor', 'zstd'], env())).exitCode).toBe(0);
    expect((await readFile(join(dir.path, 'merged.tar.zst'))).subarray(0, 4).toString('hex')).toBe('28b52ffd');
    expect(await readdir(work)).toEqual([]);
  });

  it('merge with an input that is not an image: exit 2 naming it, nothing left', async () => {
    const junk = join(dir.path, 'junk2.tar.gz');
    await writeFile(junk, Buffer.from([0x1f, 0x8b, 0x08, 0, 1, 2, 3, 4, 5, 6, 7]));
    const out = join(dir.path, 'bad-merge.tar');
    const result = await runStrata(['merge', image, junk, '-o', out], env());
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(new RegExp(`^strata: INVALID_IMAGE: ${junk}: cannot decompress \\(gzip\\): `));
    expect((await readdir(dir.path)).filter((f) => f.startsWith('bad-merge') || f.includes('.partial'))).toEqual([]);
    expect(await readdir(work)).toEqual([]);
    // A gzip file that decompresses but holds no archive: named as given, not as its decompressed copy.
    const text = join(dir.path, 'text.tar.gz');
    await writeFile(text, gzipSync(Buffer.from('just text\n'.repeat(200))));
    const notArchive = await runStrata(['merge', text, '-o', out], env());
    expect(notArchive.exitCode).toBe(2);
    expect(notArchive.stderr).toBe(`strata: INVALID_ARCHIVE: ${text}: bad tar header checksum at byte 0\n`);
    expect(await readdir(work)).toEqual([]);
    const none = await runStrata(['merge', '-o', out], env());
    expect(none.exitCode).toBe(2);
  });
});
