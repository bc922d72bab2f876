import { createHash, type Hash } from 'node:crypto';
import { open, readdir, readlink, lstat } from 'node:fs/promises';
import { HashScanner } from './_scanner.js';
import { ClosureError } from './errors.js';

/** What serialising one path as a NAR yields. */
export interface NarInfo {
  /** Size in bytes of the NAR serialisation. */
  readonly narSize: number;
  /** sha256 of the NAR serialisation, SRI form. */
  readonly narHash: string;
  /** Candidate hash parts found in the NAR (file contents, names and symlink targets). */
  readonly foundHashes: ReadonlySet<string>;
}

const CHUNK = 1 << 20;
const PADDING = Buffer.alloc(8);

/** Feeds NAR bytes to the hash, the size counter and the reference scanner in one pass. */
class NarSink {
  size = 0;
  readonly hash: Hash = createHash('sha256');
  constructor(readonly scanner: HashScanner) {}

  raw(bytes: Uint8Array): void {
    this.hash.update(bytes);
    this.size += bytes.length;
  }

  /** A NAR string: u64 little-endian length, the bytes, zero padding to 8. */
  str(value: string | Uint8Array): void {
    const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
    this.u64(bytes.length);
    this.raw(bytes);
    this.scanner.feed(bytes);
    this.scanner.end();
    this.pad(bytes.length);
  }

  u64(n: number): void {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(n));
    this.raw(b);
  }

  pad(length: number): void {
    const rest = length % 8;
    if (rest) this.raw(PADDING.subarray(0, 8 - rest));
  }
}

// Paths are kept as bytes: a store may hold names that are not UTF-8, and a NAR records them as they are.
const SLASH = Buffer.from('/');

async function dumpFile(sink: NarSink, file: Buffer, size: number, signal?: AbortSignal): Promise<void> {
  sink.u64(size);
  const handle = await open(file, 'r');
  try {
    const buffer = Buffer.allocUnsafe(Math.min(CHUNK, Math.max(size, 1)));
    let total = 0;
    for (;;) {
      signal?.throwIfAborted();
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
      if (bytesRead === 0) break;
      const chunk = buffer.subarray(0, bytesRead);
      sink.raw(chunk);
      sink.scanner.feed(chunk);
      total += bytesRead;
    }
    sink.scanner.end();
    if (total !== size) throw new ClosureError('MALFORMED', `${file.toString()} changed size while being read`);
  } finally {
    await handle.close();
  }
  sink.pad(size);
}

/** `throw` for a store path (Nix refuses FIFOs, sockets, devices); `empty` dumps one as an empty file, for scanning any tree. */
type SpecialFiles = 'throw' | 'empty';

async function dumpNode(sink: NarSink, file: Buffer, signal: AbortSignal | undefined, special: SpecialFiles): Promise<void> {
  signal?.throwIfAborted();
  const st = await lstat(file);
  sink.str('(');
  sink.str('type');
  if (st.isSymbolicLink()) {
    sink.str('symlink');
    sink.str('target');
    sink.str(Buffer.from(await readlink(file, { encoding: 'buffer' })));
  } else if (st.isFile()) {
    sink.str('regular');
    // Nix: a file is executable when its owner may execute it.
    if (st.mode & 0o100) {
      sink.str('executable');
      sink.str('');
    }
    sink.str('contents');
    await dumpFile(sink, file, st.size, signal);
  } else if (st.isDirectory()) {
    sink.str('directory');
    // NAR sorts entries by their names' bytes.
    const names = (await readdir(file, { encoding: 'buffer' })).sort(Buffer.compare);
    for (const name of names) {
      sink.str('entry');
      sink.str('(');
      sink.str('name');
      sink.str(name);
      sink.str('node');
      await dumpNode(sink, Buffer.concat([file, SLASH, name]), signal, special);
      sink.str(')');
    }
  } else if (special === 'empty') {
    // Its name was scanned with its directory; it has no contents to scan.
    sink.str('regular');
    sink.str('contents');
    sink.str('');
  } else {
    throw new ClosureError('MALFORMED', `${file.toString()} is neither a file, a directory nor a symlink; a NAR cannot hold it`);
  }
  sink.str(')');
}

/**
 * Serialises `file` (a store path on disk) as Nix's NAR format without writing it anywhere,
 * returning its exact size and sha256 and which of `candidateHashes` occur in it.
 * Every byte of the tree is read once.
 */
export function dumpNarInfo(
  file: string,
  candidateHashes: ReadonlySet<string> = new Set(),
  signal?: AbortSignal,
): Promise<NarInfo> {
  return dumpTree(file, candidateHashes, signal, 'throw');
}

/**
 * Like {@link dumpNarInfo} for any file tree, not only a store path: FIFOs, sockets and devices
 * (which a customisation layer may hold) count as empty files instead of failing.
 */
export function scanTreeNar(file: string, candidateHashes: ReadonlySet<string>, signal?: AbortSignal): Promise<NarInfo> {
  return dumpTree(file, candidateHashes, signal, 'empty');
}

async function dumpTree(file: string, candidateHashes: ReadonlySet<string>, signal: AbortSignal | undefined, special: SpecialFiles): Promise<NarInfo> {
  const sink = new NarSink(new HashScanner(candidateHashes));
  sink.str('nix-archive-1');
  await dumpNode(sink, Buffer.from(file), signal, special);
  return {
    narSize: sink.size,
    narHash: `sha256-${sink.hash.digest('base64')}`,
    foundHashes: sink.scanner.found,
  };
}

/** A file tree held in memory, with only what a NAR records of it. */
export type NarNode =
  | { readonly type: 'regular'; readonly contents: Uint8Array | string; readonly executable?: boolean }
  | { readonly type: 'symlink'; readonly target: string }
  | { readonly type: 'directory'; readonly entries: Readonly<Record<string, NarNode>> };

function dumpMemoryNode(sink: NarSink, node: NarNode): void {
  sink.str('(');
  sink.str('type');
  if (node.type === 'regular') {
    sink.str('regular');
    if (node.executable) {
      sink.str('executable');
      sink.str('');
    }
    sink.str('contents');
    sink.str(node.contents);
  } else if (node.type === 'symlink') {
    sink.str('symlink');
    sink.str('target');
    sink.str(node.target);
  } else {
    sink.str('directory');
    const names = Object.keys(node.entries).map((name) => Buffer.from(name));
    for (const name of names.sort(Buffer.compare)) {
      sink.str('entry');
      sink.str('(');
      sink.str('name');
      sink.str(name);
      sink.str('node');
      dumpMemoryNode(sink, node.entries[name.toString()]!);
      sink.str(')');
    }
  }
  sink.str(')');
}

/**
 * The NAR size and sha256 (SRI) of a tree held in memory, as {@link dumpNarInfo} gives them for the
 * same tree on disk: for files strata generates (a derivation file read once, a script it writes).
 * @example narInfoOfTree({ type: 'regular', contents: 'hello\n' }).narSize // 120
 */
export function narInfoOfTree(node: NarNode): { readonly narSize: number; readonly narHash: string } {
  const sink = new NarSink(new HashScanner(new Set()));
  sink.str('nix-archive-1');
  dumpMemoryNode(sink, node);
  return { narSize: sink.size, narHash: `sha256-${sink.hash.digest('base64')}` };
}
