#!/usr/bin/env node
// Packs every public package as it would be published (`pnpm pack`) and checks the tarball holds
// what its package.json and its source maps promise: a user who installs it gets the files that
// `main`, `types`, `exports`, `bin` and `files` name, the sources every .map points at, the README
// and the repository's LICENSE. Run after `pnpm build`; `pnpm test` runs it. Exits 1 on a problem.
//   node scripts/check-packs.mjs [package-dir...]
import { spawnSync } from 'node:child_process';
import { builtinModules } from 'node:module';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, posix, resolve } from 'node:path';

const root = resolve(new URL('..', import.meta.url).pathname);
const license = existsSync(join(root, 'LICENSE')) ? readFileSync(join(root, 'LICENSE'), 'utf8') : undefined;

function run(command, args, cwd) {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} (in ${cwd}) exited ${result.status}: ${result.stderr}`);
  return result.stdout;
}

/** Every string reachable in an `exports` value (conditions nest). */
function exportTargets(value) {
  if (typeof value === 'string') return [value];
  if (value === null || typeof value !== 'object') return [];
  return Object.values(value).flatMap(exportTargets);
}

/** A package-relative path as the tarball names it (`./dist/x.js` → `dist/x.js`). */
function normal(path) {
  return posix.normalize(path).replace(/^\.\//, '');
}

/** The packages a compiled module imports by name (`@scope/name` or `name`; node builtins left out). */
function importedPackages(source) {
  const specifiers = [
    ...source.matchAll(/^\s*(?:import|export)\b[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]/gm),
    ...source.matchAll(/^\s*import\s*['"]([^'"]+)['"]/gm),
    ...source.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g),
  ].map((m) => m[1]);
  const names = new Set();
  for (const specifier of specifiers) {
    if (specifier.startsWith('.') || specifier.startsWith('/') || specifier.startsWith('node:') || builtinModules.includes(specifier)) continue;
    const parts = specifier.split('/');
    names.add(specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]);
  }
  return names;
}

/** The problems of one packed package; `files` lists the tarball's paths without the `package/` prefix. */
function problemsOf(pkg, files, read) {
  const problems = [];
  const has = new Set(files);
  const hasDir = (dir) => files.some((f) => f.startsWith(`${normal(dir)}/`));
  const want = (what, path) => {
    if (!has.has(normal(path))) problems.push(`${what} ${path} is not in the tarball`);
  };
  if (typeof pkg.main === 'string') want('main', pkg.main);
  if (typeof pkg.types === 'string') want('types', pkg.types);
  for (const target of exportTargets(pkg.exports)) want('exports', target);
  const bins = typeof pkg.bin === 'string' ? { [pkg.name]: pkg.bin } : (pkg.bin ?? {});
  for (const [name, path] of Object.entries(bins)) {
    want(`bin ${name}:`, path);
    if (has.has(normal(path)) && !read(normal(path)).startsWith('#!')) problems.push(`bin ${name}: ${path} has no #! line`);
  }
  for (const entry of pkg.files ?? []) {
    if (entry.startsWith('!') || /[*?[]/.test(entry)) continue;
    if (!has.has(normal(entry)) && !hasDir(entry)) problems.push(`files entry ${entry} matches nothing in the tarball`);
  }
  if (!has.has('LICENSE')) problems.push('LICENSE is not in the tarball');
  else if (license === undefined) problems.push('the repository has no LICENSE to compare with');
  else if (read('LICENSE') !== license) problems.push("LICENSE differs from the repository's LICENSE");
  if (!has.has('README.md')) problems.push('README.md is not in the tarball');
  if (pkg.license !== 'MIT') problems.push(`license is ${JSON.stringify(pkg.license)}, the repository's LICENSE is MIT`);
  for (const field of ['dependencies', 'peerDependencies', 'optionalDependencies']) {
    for (const [name, range] of Object.entries(pkg[field] ?? {})) {
      if (String(range).startsWith('workspace:')) problems.push(`${field}.${name} is still ${range}`);
    }
  }
  // An import the package does not declare works in the workspace (pnpm links devDependencies too)
  // and fails for everyone who installs the package.
  const declared = new Set([pkg.name, ...['dependencies', 'peerDependencies', 'optionalDependencies'].flatMap((f) => Object.keys(pkg[f] ?? {}))]);
  for (const file of files.filter((f) => /\.(?:m?js|cjs)$/.test(f))) {
    for (const name of importedPackages(read(file))) {
      if (!declared.has(name)) problems.push(`${file} imports ${name}, which is not in dependencies`);
    }
  }
  for (const map of files.filter((f) => f.endsWith('.map'))) {
    const { sources = [], sourceRoot = '' } = JSON.parse(read(map));
    for (const source of sources) {
      const path = posix.normalize(posix.join(posix.dirname(map), sourceRoot, source));
      if (!has.has(path)) problems.push(`${map} points at ${source} (${path}), which is not in the tarball`);
    }
  }
  return problems;
}

/** Packs the package in `dir` and returns its name and problems. */
function checkPackage(dir, work) {
  const out = join(work, basename(dir));
  run('pnpm', ['pack', '--pack-destination', out], dir);
  const [tarball] = readdirSync(out).filter((f) => f.endsWith('.tgz'));
  if (!tarball) throw new Error(`pnpm pack wrote no tarball for ${dir}`);
  run('tar', ['-xzf', tarball], out);
  const files = run('tar', ['-tzf', tarball], out)
    .split('\n')
    .filter((f) => f.startsWith('package/') && !f.endsWith('/'))
    .map((f) => f.slice('package/'.length));
  const read = (path) => readFileSync(join(out, 'package', path), 'utf8');
  const pkg = JSON.parse(read('package.json'));
  return { name: pkg.name, files: files.length, problems: problemsOf(pkg, files, read) };
}

const dirs = process.argv.length > 2
  ? process.argv.slice(2).map((d) => resolve(d))
  : readdirSync(join(root, 'packages')).map((p) => join(root, 'packages', p));
const work = mkdtempSync(join(tmpdir(), 'strata-packs-'));
let failed = 0;
let passed = 0;
try {
  for (const dir of dirs) {
    const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    if (manifest.private) continue;
    const { name, files, problems } = checkPackage(dir, work);
    if (problems.length === 0) {
      passed++;
      console.log(`ok   ${name} (${files} files)`);
    } else {
      failed++;
      console.log(`FAIL ${name} (${dirname(dir) === join(root, 'packages') ? `packages/${basename(dir)}` : dir})`);
      for (const p of problems.slice(0, 20)) console.log(`     ${p}`);
      if (problems.length > 20) console.log(`     ... and ${problems.length - 20} more`);
    }
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
console.log(`packs: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
