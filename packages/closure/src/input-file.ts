import type { Stats } from 'node:fs';
import { open, stat } from 'node:fs/promises';

/** The default limit: spec and pipeline files are small; graph readers pass a larger one. */
const MAX_INPUT_BYTES = 16 << 20;

function kindOf(st: Stats): string {
  return st.isDirectory() ? 'a directory' : st.isSocket() ? 'a socket' : 'a device';
}

function tooLarge(bytes: number, max: number): Error {
  return new Error(`${Math.round(bytes / 2 ** 20)} MiB, more than the ${Math.round(max / 2 ** 20)} MiB allowed`);
}

/**
 * Reads a text input file the user named (a spec, a layering pipeline, a graph): a regular file or
 * a named pipe (`--spec <(jq ...)`), at most `maxBytes`, so `--spec /dev/zero` cannot fill memory. Throws a plain Error whose message says
 * why (`is a directory, not a file`, `20 MiB, more than the 16 MiB allowed`, or the
 * system's), for the caller to prefix with the option and file.
 * @example const text = await readInputText('image.json').catch((e) => { throw new MyError(`--spec image.json: ${e.message}`); });
 */
export async function readInputText(file: string, maxBytes = MAX_INPUT_BYTES): Promise<string> {
  const st = await stat(file);
  if (!st.isFile() && !st.isFIFO()) throw new Error(`is ${kindOf(st)}, not a file`);
  if (st.size > maxBytes) throw tooLarge(st.size, maxBytes);
  const handle = await open(file, 'r');
  try {
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const { bytesRead, buffer } = await handle.read(Buffer.alloc(1 << 20), 0, 1 << 20, null);
      if (bytesRead === 0) break;
      total += bytesRead;
      if (total > maxBytes) throw tooLarge(total, maxBytes);
      chunks.push(buffer.subarray(0, bytesRead));
    }
    return Buffer.concat(chunks, total).toString('utf8');
  } finally {
    await handle.close();
  }
}
