import { readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { collectClosure } from '@strata/closure';
import { buildHelloClosure, copyStoreFiles, hasPeers, makeTempDir, run } from '@strata/test-utils';
import { describe, expect, it } from 'vitest';
import { makeNixDb, writeNixDb } from '../src/nix-db.js';

describe.runIf(hasPeers('nix-build', 'nix-store'))('writeNixDb', () => {
  it('writes a database the real nix-store reads: references, requisites, verified contents', async () => {
    const hello = await buildHelloClosure();
    const dir = await makeTempDir();
    try {
      await copyStoreFiles([hello.hello, hello.greeting, hello.busybox], dir.path);
      const closure = await collectClosure([hello.hello], { source: 'scan', storeRoot: dir.path });
      await writeNixDb(dir.path, closure, { gcRoots: [hello.hello] });
      // Registration times are fixed, so the database is reproducible to the byte (compared before
      // nix-store opens it, since Nix rewrites the file when it does).
      const written = await readFile(join(dir.path, 'nix/var/nix/db/db.sqlite'));
      expect(Buffer.from(await makeNixDb([...closure].reverse()))).toEqual(written);
      const store = ['--store', `local?root=${dir.path}`];
      const refs = await run('nix-store', [...store, '-q', '--references', hello.hello]);
      expect(refs.stdout.split('\n').filter(Boolean).sort()).toEqual([hello.busybox, hello.greeting, hello.hello].sort());
      const reqs = await run('nix-store', [...store, '-qR', hello.greeting]);
      expect(reqs.stdout.split('\n').filter(Boolean).sort()).toEqual([hello.busybox, hello.greeting].sort());
      const verify = await run('nix-store', [...store, '--verify', '--check-contents'], { allowFailure: true });
      expect(verify.exitCode, verify.stderr).toBe(0);
      expect(verify.stderr).not.toMatch(/modified|invalid|corrupt/i);
      expect(await readlink(join(dir.path, 'nix/var/nix/gcroots/docker', hello.hello.slice(11)))).toBe(hello.hello);
      expect(await readFile(join(dir.path, 'nix/var/nix/db/schema'), 'utf8')).toBe('10');
      const info = await run('nix', ['path-info', '--json', ...store, hello.hello]);
      expect(JSON.parse(info.stdout)[0].registrationTime).toBe(315532800);
    } finally {
      await dir.remove();
    }
  });
});
