import { WriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';

const RELEASE = Symbol.for('strata.release');

/** Hands a lent chunk (see `OpenBlobOptions.lend`) back to its producer; any other chunk is left alone. */
function release(chunk: unknown): void {
  const give = (chunk as { [RELEASE]?: unknown })[RELEASE];
  if (typeof give === 'function') give();
}

// fs.WriteStream takes (path, options), though its declared type has Writable's constructor.
const FileStream = WriteStream as unknown as new (path: string, options: { flags: string }) => WriteStream;

/** A file write stream that hands each lent chunk back once the kernel has it (or the write failed). */
class ReleasingWriteStream extends FileStream {
  override _write(chunk: Buffer, encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    super._write(chunk, encoding, (error?: Error | null) => {
      release(chunk);
      callback(error);
    });
  }

  override _writev(chunks: { chunk: Buffer; encoding: BufferEncoding }[], callback: (error?: Error | null) => void): void {
    super._writev!(chunks, (error?: Error | null) => {
      for (const { chunk } of chunks) release(chunk);
      callback(error);
    });
  }
}

/** Writes a blob opened with `lend` into a new file (`wx`: never over an existing one), handing its chunks back as they are written. */
export async function writeBlobFile(stream: NodeJS.ReadableStream, file: string, signal?: AbortSignal): Promise<void> {
  await pipeline(stream, new ReleasingWriteStream(file, { flags: 'wx' }), signal ? { signal } : {});
}
