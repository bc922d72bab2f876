import { spawn } from 'node:child_process';
import { Duplex } from 'node:stream';
import * as zlib from 'node:zlib';
import { CliError } from './errors.js';
import { which } from './which.js';

/** nixpkgs' whole-archive compressors. */
export type Compressor = 'none' | 'gz' | 'zstd';

/** The file name extension nixpkgs gives each compressor's output. */
export const COMPRESSOR_EXTENSIONS: Record<Compressor, string> = { none: '', gz: '.gz', zstd: '.zst' };

/** zstd through the `zstd` program (level 3, all cores, as nixpkgs' `zstd -T$NIX_BUILD_CORES`). */
function zstdProgram(path: string): Duplex {
  const child = spawn(path, ['-q', '-c', '-3', '-T0'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  const duplex = Duplex.from({ writable: child.stdin, readable: child.stdout });
  child.on('error', (error) => duplex.destroy(new CliError(`--compressor zstd: cannot run ${path}: ${error.message}`)));
  child.on('close', (code) => {
    if (code !== 0 && code !== null) duplex.destroy(new CliError(`--compressor zstd: ${path} exited ${code}: ${stderr.trim()}`));
  });
  duplex.on('close', () => child.kill());
  return duplex;
}

/**
 * The stream stages that compress a whole archive. gz is Node's zlib (no name, mtime 0: the output
 * is reproducible, like `pigz -n`); zstd is Node's own where it has one (>= 22.15), else the `zstd`
 * program; with neither, a clear error.
 */
export function compressStages(compressor: Compressor): NodeJS.ReadWriteStream[] {
  if (compressor === 'none') return [];
  if (compressor === 'gz') return [zlib.createGzip({ level: 6 })];
  const create = (zlib as unknown as { createZstdCompress?: () => NodeJS.ReadWriteStream }).createZstdCompress;
  if (create) return [create()];
  const program = which('zstd');
  if (!program) {
    throw new CliError(`--compressor zstd: this Node (${process.version}) has no zstd and the zstd program is not installed (Debian: apt-get install zstd); use gz or none`);
  }
  return [zstdProgram(program)];
}
