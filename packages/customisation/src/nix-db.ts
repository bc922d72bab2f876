import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { basename, join } from 'node:path';
import type initSqlJs from 'sql.js';
import { CustomisationError } from './errors.js';

/** One path to register, with Nix's path-info field names (narHash in SRI or `sha256:` form). */
export interface NixDbPath {
  readonly path: string;
  /** Required: a graph file without narHash cannot feed a database. */
  readonly narHash?: string;
  readonly narSize: number;
  readonly references: readonly string[];
  readonly deriver?: string;
}

/** Options for {@link writeNixDb}. */
export interface WriteNixDbOptions {
  /** registrationTime of every path, fixed for reproducibility (nixpkgs #289813). @default 315532800 (1980-01-01, SOURCE_DATE_EPOCH in Nix builds) */
  readonly registrationTime?: number;
  /** Paths that get a gcroot `nix/var/nix/gcroots/docker/<basename>` (nixpkgs: the contents). @default [] */
  readonly gcRoots?: readonly string[];
}

// Nix's local-store schema version 10 (Nix 2.x), which every Nix since 2.0 opens (newer ones migrate it).
const SCHEMA = `
create table ValidPaths (id integer primary key autoincrement not null, path text unique not null, hash text not null, registrationTime integer not null, deriver text, narSize integer, ultimate integer, sigs text, ca text);
create table Refs (referrer integer not null, reference integer not null, primary key (referrer, reference), foreign key (referrer) references ValidPaths(id) on delete cascade, foreign key (reference) references ValidPaths(id) on delete restrict);
create index IndexReferrer on Refs(referrer);
create index IndexReference on Refs(reference);
create trigger DeleteSelfRefs before delete on ValidPaths begin delete from Refs where referrer = old.id and reference = old.id; end;
create table DerivationOutputs (drv integer not null, id text not null, path text not null, primary key (drv, id), foreign key (drv) references ValidPaths(id) on delete cascade);
create index IndexDerivationOutputs on DerivationOutputs(path);
`;

/** Nix stores NAR hashes as `sha256:<base16>`. */
function dbHash(path: string, narHash: string | undefined): string {
  if (!narHash) throw new CustomisationError('INVALID_OPTION', `includeNixDB: no narHash is known for ${path}; discover the closure with a source that reports hashes (nix, registration, scan)`);
  if (narHash.startsWith('sha256-')) return `sha256:${Buffer.from(narHash.slice(7), 'base64').toString('hex')}`;
  return narHash.startsWith('sha256:') ? narHash : `sha256:${narHash}`;
}

let sqlModule: ReturnType<typeof initSqlJs> | undefined;
function loadSql(): ReturnType<typeof initSqlJs> {
  // The WASM file ships inside the sql.js package; resolve it from there, not from a URL.
  const wasm = createRequire(import.meta.url).resolve('sql.js/dist/sql-wasm.wasm');
  // Imported on first use: loading sql.js costs ~0.1 s of CPU that every other command would pay.
  sqlModule ??= import('sql.js').then(({ default: init }) => init({ locateFile: () => wasm }));
  return sqlModule;
}

/** The bytes of a Nix database (`/nix/var/nix/db/db.sqlite`) registering `paths`, sorted by path. */
export async function makeNixDb(paths: readonly NixDbPath[], options: WriteNixDbOptions = {}): Promise<Uint8Array> {
  const SQL = await loadSql();
  const db = new SQL.Database();
  try {
    db.run(SCHEMA);
    const time = options.registrationTime ?? 315532800;
    const sorted = [...paths].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    const ids = new Map<string, number>();
    sorted.forEach((p, i) => {
      ids.set(p.path, i + 1);
      db.run('insert into ValidPaths (id, path, hash, registrationTime, deriver, narSize, ultimate) values (?, ?, ?, ?, ?, ?, ?)', [
        i + 1, p.path, dbHash(p.path, p.narHash), time, p.deriver ?? null, p.narSize, null,
      ]);
    });
    for (const p of sorted) {
      for (const ref of [...p.references].sort()) {
        const refId = ids.get(ref);
        if (refId === undefined) throw new CustomisationError('INVALID_OPTION', `includeNixDB: ${p.path} refers to ${ref}, which is not registered`);
        db.run('insert into Refs (referrer, reference) values (?, ?)', [ids.get(p.path)!, refId]);
      }
    }
    return db.export();
  } finally {
    db.close();
  }
}

/**
 * Writes a Nix database under `root/nix/var/nix/db` registering `paths` (valid paths, hashes,
 * sizes, references; registration time fixed) and gcroots for `gcRoots`, as nixpkgs' includeNixDB
 * does, so `nix-store --store local?root=ROOT -q --references` works on the unpacked image.
 * No Nix is needed.
 */
export async function writeNixDb(root: string, paths: readonly NixDbPath[], options: WriteNixDbOptions = {}): Promise<void> {
  const dbDir = join(root, 'nix/var/nix/db');
  await mkdir(dbDir, { recursive: true });
  await writeFile(join(dbDir, 'db.sqlite'), await makeNixDb(paths, options));
  await writeFile(join(dbDir, 'schema'), '10');
  const gcroots = join(root, 'nix/var/nix/gcroots/docker');
  await mkdir(gcroots, { recursive: true });
  for (const path of options.gcRoots ?? []) await symlink(path, join(gcroots, basename(path)));
}
