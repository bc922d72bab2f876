import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { pipeline } from 'node:stream/promises';
import { gunzipSync, gzipSync } from 'node:zlib';
import { writeTar } from '@strata/layer';
import { writeDockerArchive as writeArchive } from '@strata/manifest';
import { pullImage } from '@strata/registry';
import { hasPeers, makeTempDir, type RunningRegistry, skopeoInspect, startRegistry, type TempDir } from '@strata/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLayer, type Image, pushImage, readImage } from '../src/index.js';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const fast = { retry: { delayMs: 10 } };

function entry(name: string, content: string) {
  const body = Buffer.from(content);
  return { name, type: 'file' as const, mode: 0o644, uid: 0, gid: 0, uname: 'root', gname: 'root', mtime: 1, size: body.length, body };
}

const config = (ids: readonly string[]) => Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Cmd: ['/x'] }, rootfs: { type: 'layers', diff_ids: ids } }));

describe.runIf(hasPeers('docker-registry', 'skopeo'))('pushImage', () => {
  let reg: RunningRegistry;
  let tmp: TempDir;
  beforeAll(async () => {
    reg = await startRegistry();
    tmp = await makeTempDir('strata-image-push-');
  });
  afterAll(async () => {
    await reg.stop();
    await tmp.remove();
  });
  const uploads = (repo: string) => reg.log().split('\n').filter((l) => new RegExp(`"(POST|PATCH|PUT) /v2/${repo}/blobs/uploads`).test(l)).length;

  it('pushes an archive (plain and gzip layers) that skopeo reads; a re-push HEAD-skips the layers whose digest it knows', async () => {
    const plain = await buffer(writeTar([entry('a', 'plain layer')]));
    const gz = gzipSync(await buffer(writeTar([entry('b', 'gzip layer')])));
    const file = join(tmp.path, 'base.tar');
    const layers = [
      { size: plain.length, diffId: sha(plain), open: () => Readable.from([plain]) },
      { size: gz.length, diffId: sha(gunzipSync(gz)), open: () => Readable.from([gz]) },
    ];
    await pipeline(writeArchive(layers, config, { repoTags: ['base:1'] }), createWriteStream(file));
    const pushed = await pushImage(await readImage(file), `${reg.host}/image/base:1`, fast);
    expect(pushed.layers.map((l) => l.digest)).toEqual([sha(plain), sha(gz)]);
    const info = await skopeoInspect(`docker://${reg.host}/image/base:1`, ['--tls-verify=false']);
    expect(info.Digest).toBe(pushed.digest);
    const pulled = await pullImage(`${reg.host}/image/base@${pushed.digest}`, fast);
    expect(JSON.parse(pulled.config.bytes.toString()).rootfs.diff_ids).toEqual([sha(plain), sha(gunzipSync(gz))]);

    const before = uploads('image/base');
    const again = await pushImage(await readImage(file), `${reg.host}/image/base:1`, fast);
    expect(again.digest).toBe(pushed.digest);
    // The gzip layer's digest is only known once read, so it is streamed again; the plain one is HEAD-skipped.
    expect(again.layers.map((l) => l.status)).toEqual(['exists', 'uploaded']);
    expect(uploads('image/base') - before).toBe(3); // POST, PATCH, PUT of the gzip layer only
  });

  it('streams a layer of unknown digest into its upload, reading it once, and computes the config from what it learnt', async () => {
    let reads = 0;
    const tar = () => writeTar([entry('c', 'built while uploading')]);
    const size = tar().size;
    const layer = createLayer({ size, open: () => {
        reads++;
        return tar();
      }, });
    const image: Image = { repoTags: [], platform: { os: 'linux', architecture: 'amd64' }, layers: [layer], config, dispose: async () => {} };
    const pushed = await pushImage(image, `${reg.host}/image/built:1`, fast);
    const bytes = await buffer(tar());
    expect(reads).toBe(1);
    expect(pushed.layers[0]).toMatchObject({ digest: sha(bytes), status: 'uploaded' });
    expect(layer.diffId).toBe(sha(bytes));
    const pulled = await pullImage(`${reg.host}/image/built@${pushed.digest}`, fast);
    expect(JSON.parse(pulled.config.bytes.toString()).rootfs.diff_ids).toEqual([sha(bytes)]);
    // Now that the layer knows its digest, a second push HEAD-checks it and reads nothing.
    const again = await pushImage(image, `${reg.host}/image/built:1`, fast);
    expect(reads).toBe(1);
    expect(again.layers[0]!.status).toBe('exists');
    expect(again.digest).toBe(pushed.digest);
  });

  it('fails the push, naming the layer, when an archive layer contradicts its diffID', async () => {
    const plain = await buffer(writeTar([entry('d', 'tampered')]));
    const file = join(tmp.path, 'lie.tar');
    const lie = `sha256:${'5'.repeat(64)}`;
    await pipeline(writeArchive([{ size: plain.length, diffId: lie, open: () => Readable.from([plain]) }], config, { repoTags: ['lie:1'] }), createWriteStream(file));
    await expect(pushImage(await readImage(file), `${reg.host}/image/lie:1`, fast)).rejects.toThrow(/layer 1 \(layers\/001\.tar\)/);
    await expect(skopeoInspect(`docker://${reg.host}/image/lie:1`, ['--tls-verify=false'])).rejects.toThrow();
  });
});
