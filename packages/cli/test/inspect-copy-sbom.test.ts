import { createHash, randomBytes } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createSbom } from '@strata/sbom';
import { readImage } from '@strata/image';
import {
  buildHelloClosure,
  type HelloClosure,
  hasPeers,
  makeTempDir,
  nixPathInfo,
  podmanLoad,
  podmanRemove,
  podmanRun,
  run,
  type RunningRegistry,
  runStrata,
  skopeoInspect,
  startFaultProxy,
  startRegistry,
  type TempDir,
} from '@strata/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const unique = `strata-cli-copy-${randomBytes(4).toString('hex')}`;
const mounts = (log: string, repo: string) => log.split('\n').filter((l) => l.includes(`"POST /v2/${repo}/blobs/uploads/?mount=`)).length;
const uploads = (log: string, repo: string) => log.split('\n').filter((l) => new RegExp(`"(PATCH|PUT) /v2/${repo}/blobs/uploads/`).test(l)).length;

interface InspectJson {
  digest: string;
  mediaType: string;
  imageId: string;
  platform: { os: string; architecture: string };
  created: string;
  config: { Cmd?: string[]; Env?: string[] };
  layers: { digest: string; mediaType: string; size: number; diffId: string }[];
  index?: { digest: string; platforms: string[] };
  referrers?: { digest: string; artifactType?: string }[];
}

describe.runIf(hasPeers('nix-build', 'docker-registry', 'skopeo', 'podman', 'runc'))('strata inspect, copy and sbom', () => {
  let hello: HelloClosure;
  let dir: TempDir;
  let reg: RunningRegistry;
  let other: RunningRegistry;
  let spec: string;
  let archive: string;
  const loaded: string[] = [];
  beforeAll(async () => {
    hello = await buildHelloClosure({ message: 'inspected and copied' });
    dir = await makeTempDir('strata-cli-copy-');
    [reg, other] = await Promise.all([startRegistry(), startRegistry()]);
    spec = join(dir.path, 'hello.json');
    await writeFile(
      spec,
      JSON.stringify({ name: unique, tag: 'v1', contents: [hello.hello], created: '2024-03-04T05:06:07Z', config: { Cmd: [`${hello.hello}/bin/hello`], Env: ['GREETING=hi', 'PATH=/bin'] } }),
    );
    archive = join(dir.path, 'hello.tar');
    const built = await runStrata(['build-layered', '--spec', spec, '--compressor', 'none', '-o', archive]);
    expect(built.exitCode, built.stderr).toBe(0);
  });
  afterAll(async () => {
    for (const image of loaded) await podmanRemove(image);
    await Promise.all([reg.stop(), other.stop()]);
    await dir.remove();
  });

  describe('inspect', () => {
    it("shows an archive's name, digest, platform, created, config and layers, aligned", async () => {
      const result = await runStrata(['inspect', archive]);
      expect(result.exitCode, result.stderr).toBe(0);
      const lines = result.stdout.split('\n');
      expect(lines[0]).toBe(`Name        ${archive}`);
      expect(lines).toContain('Platform    linux/amd64');
      expect(lines).toContain('Created     2024-03-04T05:06:07Z');
      expect(lines).toContain(`Repo tags   ${unique}:v1`);
      expect(lines).toContain('Env         GREETING=hi');
      expect(lines).toContain('            PATH=/bin');
      expect(lines).toContain(`Cmd         ["${hello.hello}/bin/hello"]`);
      // Every layer row lines up under the table's header.
      const header = lines.findIndex((l) => /^\s+#\s+DIGEST/.test(l));
      const columns = lines[header]!.indexOf('MEDIA TYPE');
      const rows = lines.slice(header + 1).filter((l) => l.trim() !== '');
      expect(rows.length).toBeGreaterThanOrEqual(2);
      for (const row of rows) expect(row.slice(columns)).toMatch(/^application\/vnd\.docker\.image\.rootfs\.diff\.tar +[\d.]+ (B|KiB|MiB)$/);
    });

    it('gives JSON with digest, config and layers, and --raw the manifest bytes a push sends', async () => {
      const json = JSON.parse((await runStrata(['inspect', '--json', archive])).stdout) as InspectJson;
      expect(json.config.Cmd).toEqual([`${hello.hello}/bin/hello`]);
      expect(json.layers.every((l) => l.digest === l.diffId && l.size > 0)).toBe(true);
      const raw = await runStrata(['inspect', '--raw', archive]);
      const bytes = Buffer.from(raw.stdout, 'utf8');
      expect(`sha256:${createHash('sha256').update(bytes).digest('hex')}`).toBe(json.digest);
      // As stored: the manifest inspect shows is the one push sends with --compression none.
      const pushed = await runStrata(['push', '--compression', 'none', archive, `${reg.host}/strata/inspected:v1`]);
      expect(pushed.stdout.trim().split('@')[1]).toBe(json.digest);
      const registry = JSON.parse((await runStrata(['inspect', '--json', `docker://${reg.host}/strata/inspected:v1`])).stdout) as InspectJson;
      expect({ ...registry, name: undefined, referrers: undefined }).toEqual({ ...json, name: undefined, repoTags: undefined, referrers: undefined });
      const fromRegistry = await runStrata(['inspect', '--raw', `${reg.host}/strata/inspected:v1`]);
      expect(fromRegistry.stdout).toBe(raw.stdout);
    });

    it('shows the index an image was picked from, and --raw of an index is the index', async () => {
      const arm = join(dir.path, 'arm.json');
      await writeFile(arm, JSON.stringify({ name: 'arm', architecture: 'arm64', contents: [hello.hello] }));
      const index = await runStrata(['push-index', `${reg.host}/strata/inspected-multi:1`, archive, arm]);
      expect(index.exitCode, index.stderr).toBe(0);
      const json = JSON.parse((await runStrata(['inspect', '--json', '--platform', 'linux/arm64', `${reg.host}/strata/inspected-multi:1`])).stdout) as InspectJson;
      expect(json.platform.architecture).toBe('arm64');
      expect(json.index).toMatchObject({ digest: index.stdout.trim().split('@')[1], platforms: ['linux/amd64', 'linux/arm64'] });
      const raw = await runStrata(['inspect', '--raw', `${reg.host}/strata/inspected-multi:1`]);
      const skopeo = await run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/strata/inspected-multi:1`]);
      expect(raw.stdout).toBe(skopeo.stdout);
    });

    it('still inspects when a registry answers the referrers endpoint with 405, and lists none', async () => {
      await runStrata(['push', archive, `${reg.host}/strata/no-referrers:v1`]);
      const proxy = await startFaultProxy(reg.url, [{ method: 'GET', path: /\/referrers\//, fault: { kind: 'status', status: 405 }, times: 10 }]);
      try {
        const result = await runStrata(['inspect', '--json', `${proxy.host}/strata/no-referrers:v1`]);
        expect(result.exitCode, result.stderr).toBe(0);
        const json = JSON.parse(result.stdout) as InspectJson;
        expect(json.referrers).toBeUndefined();
        expect(proxy.requests.some((r) => r.path.includes('/referrers/') && r.fault === 'status')).toBe(true);
      } finally {
        await proxy.stop();
      }
    });

    it('refuses --json with --raw, a missing file and a spec, as usage or input errors', async () => {
      expect((await runStrata(['inspect', '--json', '--raw', archive])).exitCode).toBe(2);
      const missing = await runStrata(['inspect', join(dir.path, 'nope.tar')]);
      expect(missing.exitCode).toBe(2);
      expect(missing.stderr).toMatch(/nope\.tar: no such file, and not a registry reference/);
      expect((await runStrata(['inspect', spec])).exitCode).toBe(2);
    });
  });

  describe('copy', () => {
    it('copies registry to registry on one registry by mounting, keeping the digest', async () => {
      const pushed = (await runStrata(['push', archive, `${reg.host}/strata/copy-src:v1`])).stdout.trim();
      const before = uploads(reg.log(), 'strata/copy-dst');
      const copied = await runStrata(['copy', `docker://${reg.host}/strata/copy-src:v1`, `docker://${reg.host}/strata/copy-dst:v1`]);
      expect(copied.exitCode, copied.stderr).toBe(0);
      expect(copied.stdout.trim()).toBe(`${reg.host}/strata/copy-dst@${pushed.split('@')[1]}`);
      expect(mounts(reg.log(), 'strata/copy-dst')).toBeGreaterThanOrEqual(1);
      expect(uploads(reg.log(), 'strata/copy-dst')).toBe(before);
      expect((await skopeoInspect(`docker://${reg.host}/strata/copy-dst:v1`, ['--tls-verify=false'])).Digest).toBe(pushed.split('@')[1]);
    });

    it('copies a whole index between registries, children first, keeping every digest', async () => {
      const arm = join(dir.path, 'arm-copy.json');
      await writeFile(arm, JSON.stringify({ name: 'arm', architecture: 'arm64', contents: [hello.hello] }));
      const index = (await runStrata(['push-index', `${reg.host}/strata/copy-index:1`, archive, arm])).stdout.trim();
      const copied = await runStrata(['copy', `${reg.host}/strata/copy-index:1`, `${other.host}/mirror/index:1`]);
      expect(copied.exitCode, copied.stderr).toBe(0);
      expect(copied.stdout.trim()).toBe(`${other.host}/mirror/index@${index.split('@')[1]}`);
      const raw = (await skopeoInspect(`docker://${other.host}/mirror/index:1`, ['--tls-verify=false', '--raw'])) as { manifests: { digest: string }[] };
      for (const child of raw.manifests) {
        expect((await skopeoInspect(`docker://${other.host}/mirror/index@${child.digest}`, ['--tls-verify=false', '--raw'])) as object).toHaveProperty('config');
      }
      // Another registry cannot mount: the blobs were sent.
      expect(mounts(other.log(), 'mirror/index')).toBe(0);
    });

    it('copies registry → archive → registry with the same image ID, and the archive runs in podman', async () => {
      const pushed = (await runStrata(['push', archive, `${reg.host}/strata/round:v1`])).stdout.trim();
      const imageId = ((await skopeoInspect(`docker://${pushed}`, ['--tls-verify=false', '--raw'])) as { config: { digest: string } }).config.digest;
      const file = join(dir.path, 'round.tar');
      const out = await runStrata(['copy', `docker://${reg.host}/strata/round:v1`, `docker-archive:${file}:${unique}-round:v1`]);
      expect(out.exitCode, out.stderr).toBe(0);
      expect(out.stdout.trim()).toBe(imageId);
      const name = await podmanLoad(file);
      loaded.push(name);
      expect(name).toContain(`${unique}-round:v1`);
      expect((await podmanRun(name)).stdout).toBe(`inspected and copied\nfrom ${hello.hello}\n`);
      const back = await runStrata(['copy', file, `${other.host}/strata/round:back`]);
      expect(back.exitCode, back.stderr).toBe(0);
      const again = (await skopeoInspect(`docker://${other.host}/strata/round:back`, ['--tls-verify=false', '--raw'])) as { config: { digest: string } };
      expect(again.config.digest).toBe(imageId);
    });

    it('copies registry → OCI layout and OCI archive with the same image ID, and the layout back keeping its digest', async () => {
      const pushed = (await runStrata(['push', archive, `${reg.host}/strata/to-oci:v1`])).stdout.trim();
      const imageId = ((await skopeoInspect(`docker://${pushed}`, ['--tls-verify=false', '--raw'])) as { config: { digest: string } }).config.digest;
      const layout = join(dir.path, 'copied-layout');
      const out = await runStrata(['copy', `${reg.host}/strata/to-oci:v1`, `oci:${layout}:v1`]);
      expect(out.exitCode, out.stderr).toBe(0);
      expect(out.stdout.trim()).toBe(imageId);
      const raw = (await skopeoInspect(`oci:${layout}:v1`, ['--raw'])) as { config: { digest: string }; layers: { mediaType: string }[] };
      expect(raw.config.digest).toBe(imageId);
      // The registry's gzip layers are kept as they are.
      expect(raw.layers.every((l) => l.mediaType === 'application/vnd.oci.image.layer.v1.tar+gzip')).toBe(true);
      const ociArchive = join(dir.path, 'copied.oci.tar');
      expect((await runStrata(['copy', `${reg.host}/strata/to-oci:v1`, `oci-archive:${ociArchive}:v1`, '--compression', 'zstd'])).exitCode).toBe(0);
      expect(((await skopeoInspect(`oci-archive:${ociArchive}:v1`, ['--raw'])) as { config: { digest: string } }).config.digest).toBe(imageId);
      const back = await runStrata(['copy', `oci:${layout}:v1`, `${other.host}/strata/from-layout:v1`]);
      expect(back.exitCode, back.stderr).toBe(0);
      expect(back.stdout.trim().split('@')[1]).toBe((await skopeoInspect(`oci:${layout}:v1`)).Digest);
    });

    it('takes a bare path as a file destination and refuses a spec source', async () => {
      const out = join(dir.path, 'plain-copy.tar');
      const copied = await runStrata(['copy', archive, out]);
      expect(copied.exitCode, copied.stderr).toBe(0);
      expect((await stat(out)).size).toBeGreaterThan(0);
      expect(copied.stdout.trim()).toBe(JSON.parse((await runStrata(['inspect', '--json', archive])).stdout).imageId);
      const refused = await runStrata(['copy', spec, join(dir.path, 'never.tar')]);
      expect(refused.exitCode).toBe(2);
      await expect(stat(join(dir.path, 'never.tar'))).rejects.toThrow(/ENOENT/);
    });
  });

  describe('--json and --quiet', () => {
    it('copy, push-index and sbom give their result as JSON, and --quiet leaves stderr empty', async () => {
      const copied = await runStrata(['copy', archive, `${reg.host}/strata/json-copy:v1`, '--json']);
      expect(copied.exitCode, copied.stderr).toBe(0);
      expect(copied.stderr).toBe('');
      const result = JSON.parse(copied.stdout) as { reference: string; digest: string };
      expect(result.reference).toBe(`${reg.host}/strata/json-copy@${result.digest}`);
      const quiet = await runStrata(['copy', `${reg.host}/strata/json-copy:v1`, `${reg.host}/strata/json-copy2:v1`, '--quiet']);
      expect(quiet.exitCode).toBe(0);
      expect(quiet.stderr).toBe('');
      expect(quiet.stdout.trim()).toBe(`${reg.host}/strata/json-copy2@${result.digest}`);
      const arm = join(dir.path, 'arm-json.json');
      await writeFile(arm, JSON.stringify({ name: 'arm', architecture: 'arm64', contents: [hello.hello] }));
      const index = await runStrata(['push-index', `${reg.host}/strata/json-index:1`, archive, arm, '--json']);
      expect(index.exitCode, index.stderr).toBe(0);
      const pushed = JSON.parse(index.stdout) as { digest: string; manifests: { platform: { architecture: string } }[] };
      expect(pushed.manifests.map((m) => m.platform.architecture)).toEqual(['amd64', 'arm64']);
      const out = join(dir.path, 'json.spdx.json');
      const sbom = await runStrata(['sbom', archive, '--format', 'spdx-json', '-o', out, '--json']);
      expect(sbom.exitCode, sbom.stderr).toBe(0);
      expect(JSON.parse(sbom.stdout)).toMatchObject({ file: out, format: 'spdx-json', storePaths: 3 });
      const refused = await runStrata(['sbom', archive, '--format', 'spdx-json', '-o', '-', '--json']);
      expect(refused.exitCode).toBe(2);
    });
  });

  describe('OCI layouts as sources', () => {
    it('inspects a layout and an OCI archive skopeo wrote, copies the layout to a registry keeping its digest, and describes it', async () => {
      const layout = join(dir.path, 'oci-layout');
      const ociArchive = join(dir.path, 'hello.oci.tar');
      await run('skopeo', ['--insecure-policy', 'copy', `docker-archive:${archive}`, `oci:${layout}:v1`]);
      await run('skopeo', ['--insecure-policy', 'copy', `docker-archive:${archive}`, `oci-archive:${ociArchive}:v1`]);
      const skopeo = await skopeoInspect(`oci:${layout}:v1`);
      const json = JSON.parse((await runStrata(['inspect', '--json', `oci:${layout}:v1`])).stdout) as InspectJson;
      expect(json.digest).toBe(skopeo.Digest);
      expect(json.layers.map((l) => l.digest)).toEqual(skopeo.Layers);
      const fromArchive = JSON.parse((await runStrata(['inspect', '--json', `oci-archive:${ociArchive}`])).stdout) as InspectJson;
      expect(fromArchive.imageId).toBe(json.imageId);
      const copied = await runStrata(['copy', `oci:${layout}:v1`, `${reg.host}/strata/from-oci:v1`]);
      expect(copied.exitCode, copied.stderr).toBe(0);
      expect(copied.stdout.trim()).toBe(`${reg.host}/strata/from-oci@${skopeo.Digest}`);
      const sbom = await runStrata(['sbom', `oci-archive:${ociArchive}`, '--format', 'spdx-json', '-o', '-']);
      const direct = await runStrata(['sbom', archive, '--format', 'spdx-json', '-o', '-']);
      expect(sbom.exitCode, sbom.stderr).toBe(0);
      // Same image, same packages and graph; only the name differs (the layout names the image by tag alone).
      const [a, b] = [JSON.parse(sbom.stdout), JSON.parse(direct.stdout)];
      expect(a.packages.slice(1)).toEqual(b.packages.slice(1));
      expect(a.relationships).toEqual(b.relationships);
      expect(a.documentNamespace).toBe(b.documentNamespace);
    });
  });

  describe('sbom', () => {
    it("writes the same SPDX bytes for a spec and its archive, listing Nix's closure with Nix's hashes", async () => {
      const fromSpec = join(dir.path, 'spec.spdx.json');
      const fromArchive = join(dir.path, 'archive.spdx.json');
      const a = await runStrata(['sbom', spec, '--format', 'spdx-json', '-o', fromSpec]);
      expect(a.exitCode, a.stderr).toBe(0);
      expect((await runStrata(['sbom', archive, '--format', 'spdx-json', '-o', fromArchive])).exitCode).toBe(0);
      const bytes = await readFile(fromSpec);
      expect((await readFile(fromArchive)).equals(bytes)).toBe(true);
      const document = JSON.parse(bytes.toString('utf8')) as { packages: { packageFileName?: string; checksums: { checksumValue: string }[] }[] };
      const nix = await nixPathInfo([hello.hello]);
      const listed = document.packages.filter((p) => p.packageFileName).map((p) => [p.packageFileName, p.checksums[0]!.checksumValue]);
      expect(listed).toEqual(nix.map((p) => [p.path, Buffer.from(p.narHash.replace(/^sha256-/, ''), 'base64').toString('hex')]));
      // The library gives the very same bytes (its output is validated against the official schemas).
      const image = await readImage(archive);
      expect((await createSbom(image, 'spdx-json')).bytes.equals(bytes)).toBe(true);
    });

    it('writes CycloneDX, refuses an unknown format, and leaves no file on failure', async () => {
      const out = join(dir.path, 'hello.cdx.json');
      expect((await runStrata(['sbom', archive, '--format', 'cyclonedx-json', '-o', out])).exitCode).toBe(0);
      expect(JSON.parse(await readFile(out, 'utf8'))).toMatchObject({ bomFormat: 'CycloneDX', specVersion: '1.5' });
      const bad = await runStrata(['sbom', archive, '--format', 'spdx-tag-value', '-o', join(dir.path, 'bad.json')]);
      expect(bad.exitCode).toBe(2);
      const truncated = join(dir.path, 'truncated.tar');
      await writeFile(truncated, (await readFile(archive)).subarray(0, 20_000));
      const broken = await runStrata(['sbom', truncated, '--format', 'spdx-json', '-o', join(dir.path, 'broken.json')]);
      expect(broken.exitCode).not.toBe(0);
      await expect(stat(join(dir.path, 'broken.json'))).rejects.toThrow(/ENOENT/);
    });

    it('push --sbom attaches the SBOM to the image: strata inspect and skopeo find it through the fallback tag', async () => {
      const pushed = await runStrata(['push', spec, `${reg.host}/strata/with-sbom:v1`, '--sbom', 'spdx-json']);
      expect(pushed.exitCode, pushed.stderr).toBe(0);
      const digest = pushed.stdout.trim().split('@')[1]!;
      const tag = `sha256-${digest.slice('sha256:'.length)}`;
      const referrers = (await skopeoInspect(`docker://${reg.host}/strata/with-sbom:${tag}`, ['--tls-verify=false', '--raw'])) as { manifests: { digest: string; artifactType: string }[] };
      expect(referrers.manifests).toHaveLength(1);
      expect(referrers.manifests[0]!.artifactType).toBe('application/spdx+json');
      const artifact = (await skopeoInspect(`docker://${reg.host}/strata/with-sbom@${referrers.manifests[0]!.digest}`, ['--tls-verify=false', '--raw'])) as {
        subject: { digest: string };
        layers: { digest: string }[];
      };
      expect(artifact.subject.digest).toBe(digest);
      const shown = JSON.parse((await runStrata(['inspect', '--json', `${reg.host}/strata/with-sbom:v1`])).stdout) as InspectJson;
      expect(shown.referrers).toEqual([expect.objectContaining({ digest: referrers.manifests[0]!.digest, artifactType: 'application/spdx+json' })]);
      // The attached blob is the document `strata sbom` writes.
      const written = join(dir.path, 'attached.spdx.json');
      expect((await runStrata(['sbom', spec, '--format', 'spdx-json', '-o', written])).exitCode).toBe(0);
      const blob = await fetch(`${reg.url}/v2/strata/with-sbom/blobs/${artifact.layers[0]!.digest}`);
      expect(Buffer.from(await blob.arrayBuffer()).equals(await readFile(written))).toBe(true);
    });
  });
});
