import { spawn } from 'node:child_process';
import { Duplex } from 'node:stream';
import * as zlib from 'node:zlib';
import type { Compression } from '@strata/manifest';
import { which } from './_which.js';
import { ImageError } from './errors.js';

export type { Compression } from '@strata/manifest';

/** nixpkgs' whole-archive compressors (`compressor = "none" | "gz" | "zstd"`). */
export type Compressor = 'none' | 'gz' | 'zstd';

/** The file name extension nixpkgs gives each compressor's output. */
export const COMPRESSOR_EXTENSIONS: Readonly<Record<Compressor, string>> = { none: '', gz: '.gz', zstd: '.zst' };

interface ZstdZlib {
  createZstdCompress?: () => NodeJS.ReadWriteStream;
  createZstdDecompress?: () => NodeJS.ReadWriteStream;
}

/** A stream that decompresses `compression`; `what` names the input in errors. */
export function decompressor(compression: Exclude<Compression, 'none'>, what: string): NodeJS.ReadWriteStream {
  if (compression === 'gzip') return zlib.createGunzip();
  const create = (zlib as unknown as ZstdZlib).createZstdDecompress;
  if (!create) throw new ImageError('UNSUPPORTED', `${what}: zstd-compressed data needs Node >= 22.15 (this is ${process.version})`);
  return create();
}

/** zstd through the `zstd` program (level 3, all cores, as nixpkgs' `zstd -T$NIX_BUILD_CORES`). */
function zstdProgram(path: string): Duplex {
  const child = spawn(path, ['-q', '-c', '-3', '-T0'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  const duplex = Duplex.from({ writable: child.stdin, readable: child.stdout });
  child.on('error', (error) => duplex.destroy(new ImageError('UNSUPPORTED', `compressor zstd: cannot run ${path}: ${error.message}`)));
  child.on('close', (code) => {
    if (code !== 0 && code !== null) duplex.destroy(new ImageError('UNSUPPORTED', `compressor zstd: ${path} exited ${code}: ${stderr.trim()}`));
  });
  duplex.on('close', () => child.kill());
  return duplex;
}

/**
 * The stream stages that compress a whole archive as nixpkgs' `compressor` does. gz is Node's zlib
 * (no name, mtime 0: reproducible, like `pigz -n`); zstd is Node's own where it has one (>= 22.15),
 * else the `zstd` program; with neither, an ImageError `UNSUPPORTED` that says what to install.
 */
export function compressStages(compressor: Compressor): NodeJS.ReadWriteStream[] {
  if (compressor === 'none') return [];
  if (compressor === 'gz') return [zlib.createGzip({ level: 6 })];
  const create = (zlib as unknown as ZstdZlib).createZstdCompress;
  if (create) return [create()];
  const program = which('zstd');
  if (!program) {
    throw new ImageError('UNSUPPORTED', `compressor zstd: this Node (${process.version}) has no zstd and the zstd program is not installed (Debian: apt-get install zstd); use gz or none`);
  }
  return [zstdProgram(program)];
}
