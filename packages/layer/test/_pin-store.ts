// A store path whose layer bytes are pinned: the tests that prove speed work keeps every byte.
import { chmod, link, mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '@strata/test-utils';

const LONG = `${'deep/'.repeat(12)}${'n'.repeat(120)}.txt`;

/** Deterministic bytes that differ at every offset of a file and between files. */
export function pattern(size: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) out[i] = (Math.imul(i + 1, 2654435761) >>> 24) ^ seed;
  return out;
}

export const PIN_PATH = '/nix/store/gggggggggggggggggggggggggggggggg-pin';
/** File sizes around every boundary a writer has: tar blocks, read pieces, files larger than the 4 MiB ring. */
export const PIN_SIZES = [0, 1, 511, 512, 513, 4095, 65_536, 100_001, (1 << 20) + 3, (9 << 20) + 1234, 3 << 20];

/**
 * A store path whose every mode is set explicitly (so the umask does not change the bytes): files
 * of PIN_SIZES, a long name, a non-ASCII name, a hardlink, symlinks short and long.
 */
export async function makePinStore(dir: string): Promise<void> {
  const base = join(dir, PIN_PATH);
  await mkdir(join(base, 'lib/sub'), { recursive: true });
  await mkdir(join(base, LONG, '..'), { recursive: true });
  for (const [i, size] of PIN_SIZES.entries()) await writeFile(join(base, 'lib', `f${i}`), pattern(size, i));
  await writeFile(join(base, 'lib/sub/ünïcødé-名前.txt'), 'unicode\n');
  await writeFile(join(base, LONG), 'long\n');
  await link(join(base, 'lib/f8'), join(base, 'lib/sub/hardlink'));
  await symlink('../lib/f3', join(base, 'lib/sub/link'));
  await symlink(`/nix/store/${'y'.repeat(150)}-long-target`, join(base, 'lib/long-link'));
  const { stdout } = await run('find', [base, '-not', '-type', 'l']);
  for (const path of stdout.split('\n').filter(Boolean)) await chmod(path, path.includes('/lib/f1') ? 0o4755 : 0o755);
}

/** sha256 of `packLayer(await scanLayer([PIN_PATH], { storeRoot, mtime: 1 }))`, as first written with tar-stream. */
export const PIN_DIGEST = 'sha256:2c4ebc0fed972f0e593e7d61bcf47a3dd8881e102f0a2e086dd3304154976c08';
