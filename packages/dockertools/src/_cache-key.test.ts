import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { StorePath } from '@strata/closure';
import { scanLayer } from '@strata/layer';
import { makeTempDir, type TempDir } from '@strata/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { customisationLayerKey, registeredLayerKey, storeLayerKey } from './_cache-key.js';

const PATH = '/nix/store/00000000000000000000000000000abc-pkg';

describe('storeLayerKey', () => {
  let tmp: TempDir;
  beforeAll(async () => {
    tmp = await makeTempDir('strata-cache-key-');
    await mkdir(join(tmp.path, PATH, 'bin'), { recursive: true });
    await writeFile(join(tmp.path, PATH, 'bin/tool'), 'version 1');
  });
  afterAll(() => tmp.remove());

  const scan = (extra: Record<string, unknown> = {}) => scanLayer([PATH], { storeRoot: tmp.path, ...extra });
  const closure = (narHash?: string) => new Map<string, StorePath>([[PATH, { path: PATH, narSize: 1, references: [], ...(narHash ? { narHash } : {}) }]]);

  it('is the same for the same inputs, and changes with the NAR hash, the owners, the mtime and the modes', async () => {
    const key = storeLayerKey(await scan(), closure('sha256-AAAA'));
    expect(key).toMatch(/^store-1:sha256:[a-f0-9]{64}$/);
    expect(storeLayerKey(await scan(), closure('sha256-AAAA'))).toBe(key);
    const others = [
      storeLayerKey(await scan(), closure('sha256-BBBB')),
      storeLayerKey(await scan({ uid: 1000 }), closure('sha256-AAAA')),
      storeLayerKey(await scan({ uname: 'nobody' }), closure('sha256-AAAA')),
      storeLayerKey(await scan({ mtime: 2 }), closure('sha256-AAAA')),
    ];
    await chmod(join(tmp.path, PATH, 'bin/tool'), 0o600);
    others.push(storeLayerKey(await scan(), closure('sha256-AAAA')));
    await chmod(join(tmp.path, PATH, 'bin/tool'), 0o644);
    expect(new Set([key, ...others]).size).toBe(others.length + 1);
  });

  it('without a NAR hash, changes when a file is rewritten in place with the same size', async () => {
    const before = storeLayerKey(await scan(), closure());
    expect(storeLayerKey(await scan(), closure())).toBe(before);
    await new Promise((r) => setTimeout(r, 20));
    await writeFile(join(tmp.path, PATH, 'bin/tool'), 'version 2');
    expect(storeLayerKey(await scan(), closure())).not.toBe(before);
  });
});

describe('registeredLayerKey', () => {
  const owner = { uid: 0, gid: 0, uname: 'root', gname: 'root', mtime: 1 };
  const closure = (narHash?: string) => new Map<string, StorePath>([[PATH, { path: PATH, narSize: 1, references: [], ...(narHash ? { narHash } : {}) }]]);

  it('identifies a layer of registered paths by their NAR hashes and the owner options, reading nothing', () => {
    const key = registeredLayerKey([PATH], closure('sha256-AAAA'), owner);
    expect(key).toMatch(/^store-nar-1:sha256:[a-f0-9]{64}$/);
    expect(registeredLayerKey([PATH], closure('sha256-AAAA'), owner)).toBe(key);
    const others = [
      registeredLayerKey([PATH], closure('sha256-BBBB'), owner),
      registeredLayerKey([PATH], closure('sha256-AAAA'), { ...owner, gid: 100 }),
      registeredLayerKey([PATH], closure('sha256-AAAA'), { ...owner, gname: 'users' }),
      registeredLayerKey([PATH], closure('sha256-AAAA'), { ...owner, mtime: 2 }),
    ];
    expect(new Set([key, ...others]).size).toBe(5);
  });

  it('gives no key when a path has no NAR hash', () => {
    expect(registeredLayerKey([PATH], closure(), owner)).toBeUndefined();
    expect(registeredLayerKey(['/nix/store/00000000000000000000000000000abd-other'], closure('sha256-AAAA'), owner)).toBeUndefined();
  });
});

describe('customisationLayerKey', () => {
  it('names the layer format and the content digest', () => {
    expect(customisationLayerKey(`sha256:${'a'.repeat(64)}`)).toBe(`custom-1:sha256:${'a'.repeat(64)}`);
  });
});
