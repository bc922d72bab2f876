import { mkdir, mkdtemp, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CustomisationError } from './errors.js';
import { applyHelpers, fakeNssFiles } from './helpers.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'strata-helpers-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

const BASH = '/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-bash-5.2';

describe('applyHelpers', () => {
  it('links /bin/sh and /usr/bin/env to what contents provide', async () => {
    const storeRoot = join(dir, 'chroot');
    await mkdir(join(storeRoot, BASH, 'bin'), { recursive: true });
    await writeFile(join(storeRoot, BASH, 'bin/bash'), '');
    await writeFile(join(storeRoot, BASH, 'bin/env'), '');
    const root = join(dir, 'root');
    await applyHelpers(root, { binSh: true, usrBinEnv: true }, { contents: [BASH], storeRoot });
    expect(await readlink(join(root, 'bin/sh'))).toBe(`${BASH}/bin/bash`);
    expect(await readlink(join(root, 'usr/bin/env'))).toBe(`${BASH}/bin/env`);
  });
  it('links to the image path of a shell that a local directory in contents provides', async () => {
    // A local directory is copied into the image root, so its bin/sh is at /bin/sh there, not at the host path.
    const local = join(dir, 'rootfs');
    await mkdir(join(local, 'bin'), { recursive: true });
    await writeFile(join(local, 'bin/bash'), '');
    await writeFile(join(local, 'bin/env'), '');
    const root = join(dir, 'root');
    await applyHelpers(root, { binSh: true, usrBinEnv: true }, { contents: [local, BASH] });
    expect(await readlink(join(root, 'bin/sh'))).toBe('/bin/bash');
    expect(await readlink(join(root, 'usr/bin/env'))).toBe('/bin/env');
  });
  it('says clearly when nothing provides a shell', async () => {
    await expect(applyHelpers(join(dir, 'root'), { binSh: true }, { contents: [] })).rejects.toSatisfy(
      (e) => e instanceof CustomisationError && /binSh: no contents item provides bin\/bash or bin\/sh/.test(e.message),
    );
  });
  it('writes fakeNss files exactly, with extra lines between root and nobody', async () => {
    const root = join(dir, 'root');
    await applyHelpers(root, { fakeNss: { extraPasswdLines: ['alice:x:1000:1000::/home/alice:/bin/sh'], extraGroupLines: ['alice:x:1000:'] } });
    expect(await readFile(join(root, 'etc/passwd'), 'utf8')).toBe(
      'root:x:0:0:root user:/var/empty:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\nnobody:x:65534:65534:nobody:/var/empty:/bin/sh\n',
    );
    expect(await readFile(join(root, 'etc/group'), 'utf8')).toBe('root:x:0:\nalice:x:1000:\nnobody:x:65534:\n');
    expect(await readFile(join(root, 'etc/nsswitch.conf'), 'utf8')).toBe('hosts: files dns\n');
    expect((await stat(join(root, 'var/empty'))).isDirectory()).toBe(true);
    expect(fakeNssFiles()['/etc/passwd']).toBe('root:x:0:0:root user:/var/empty:/bin/sh\nnobody:x:65534:65534:nobody:/var/empty:/bin/sh\n');
  });
  it('puts a CA bundle at the three usual paths', async () => {
    const bundle = join(dir, 'bundle.crt');
    await writeFile(bundle, 'CERT\n');
    const root = join(dir, 'root');
    await applyHelpers(root, { caCertificates: bundle });
    expect(await readFile(join(root, 'etc/ssl/certs/ca-bundle.crt'), 'utf8')).toBe('CERT\n');
    for (const p of ['etc/ssl/certs/ca-certificates.crt', 'etc/pki/tls/certs/ca-bundle.crt']) {
      expect(await readlink(join(root, p))).toBe('/etc/ssl/certs/ca-bundle.crt'); // absolute inside the image
    }
    const store = join(dir, 'root2');
    await applyHelpers(store, { caCertificates: '/nix/store/cccccccccccccccccccccccccccccccc-cacert/etc/ssl/certs/ca-bundle.crt' });
    expect(await readlink(join(store, 'etc/pki/tls/certs/ca-bundle.crt'))).toMatch(/-cacert\/etc\/ssl\/certs\/ca-bundle\.crt$/);
  });
  it('keeps a file that contents already provide, and says so', async () => {
    const root = join(dir, 'root');
    await mkdir(join(root, 'etc'), { recursive: true });
    await writeFile(join(root, 'etc/passwd'), 'x');
    expect(await applyHelpers(root, { fakeNss: true })).toEqual(["/etc/passwd is provided by contents already; keeping that one and not the helper's"]);
    expect(await readFile(join(root, 'etc/passwd'), 'utf8')).toBe('x');
    expect(await readFile(join(root, 'etc/group'), 'utf8')).toContain('nobody');
  });
});
