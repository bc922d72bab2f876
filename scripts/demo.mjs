#!/usr/bin/env node
// `pnpm demo [OUTDIR]`: builds a small runnable image on a machine WITHOUT Nix. It assembles a
// chroot store itself (the host's static busybox plus a hello script that refers to it, under store
// paths whose hashes it derives from their contents), lets strata discover the closure by scanning
// the files, builds the image through strata's stages, and says how to load and run it.
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

const image = join(out, 'strata-demo.tar');
const build = ['build-layered', '--name', 'strata-demo', '--tag', 'latest', '--store-root', storeRoot, '--closure-source', 'scan',
  '--contents', hello, '--config', JSON.stringify({ Cmd: ['/bin/hello'] }), '--compressor', 'none', '-o', image];
console.log(`$ strata ${build.map((a) => (/[\s{}"]/.test(a) ? `'${a}'` : a)).join(' ')}`);
strata(...build);
console.log(`Wrote ${image}. Load and run it:

  podman load -i ${image}
  podman run --rm strata-demo:latest

(on machines like the CI ones here, podman needs: podman --cgroup-manager=cgroupfs run --rm --runtime runc
 --network=none --ulimit nofile=20000:20000 --ulimit nproc=1000:1000 strata-demo:latest)`);
