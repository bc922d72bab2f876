#!/usr/bin/env node
// `pnpm demo`: builds a small runnable image on a machine WITHOUT Nix. It assembles a chroot store
// itself (the host's static busybox plus a hello script that refers to it, under store paths whose
// hashes it derives from their contents), lets strata discover the closure by scanning the files,
// and builds the image through strata's stages.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { encodeNixBase32 } from '../packages/closure/dist/index.js';

const root = resolve(new URL('..', import.meta.url).pathname);
const out = resolve(process.argv[2] ?? join(root, 'out'));
const storeRoot = join(out, 'demo-store');
const storePath = (name, content) => `/nix/store/${encodeNixBase32(createHash('sha256').update(name).update(content).digest().subarray(0, 20))}-${name}`;

const busyboxBin = ['/bin/busybox', '/usr/bin/busybox'].find((p) => existsSync(p));
if (!busyboxBin) {
  console.error('demo: needs a static busybox (Debian: apt-get install busybox-static)');
  process.exit(1);
}
rmSync(storeRoot, { recursive: true, force: true });
const busybox = storePath('busybox-static', readFileSync(busyboxBin));
mkdirSync(join(storeRoot, busybox, 'bin'), { recursive: true });
copyFileSync(busyboxBin, join(storeRoot, busybox, 'bin/busybox'));
chmodSync(join(storeRoot, busybox, 'bin/busybox'), 0o555);
symlinkSync('busybox', join(storeRoot, busybox, 'bin/sh'));
const script = `#!${busybox}/bin/sh\necho "Hello from a strata image built without Nix!"\n${busybox}/bin/busybox uname -s\n`;
const hello = storePath('hello-demo', script);
mkdirSync(join(storeRoot, hello, 'bin'), { recursive: true });
writeFileSync(join(storeRoot, hello, 'bin/hello'), script, { mode: 0o555 });

const strata = (...args) => execFileSync(process.execPath, [join(root, 'packages/cli/dist/bin.js'), ...args], { stdio: ['ignore', 'pipe', 'inherit'] }).toString();
console.log(`Assembled a chroot store at ${storeRoot} (no Nix involved).\n`);
console.log(`$ strata closure --scan --store-root ${storeRoot} ${hello}`);
console.log(strata('closure', '--scan', '--store-root', storeRoot, hello));
