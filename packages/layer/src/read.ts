import type { Readable } from 'node:stream';

/** One member of an archive being read. Consume `body` before asking for the next member (or leave it: it is drained). */
export interface TarMember {
  readonly name: string;
  readonly type: string;
  readonly size: number;
  readonly mode: number;
  readonly linkname?: string;
  /** Byte offset of the member's content from the start of the archive. */
  readonly offset: number;
  readonly body: Readable;
}

/**
 * Reads a tar archive member by member (ustar, PAX and GNU long names).
 * @example
 * for await (const member of readTar(createReadStream('image.tar'))) console.log(member.name, member.size);
 */
export async function* readTar(source: Readable): AsyncGenerator<TarMember> {
  // An error while the parser loads must be held for it, not left unheard (which would crash).
  let extract: import('tar-stream').Extract | undefined;
  let early: Error | undefined;
  source.on('error', (error) => {
    if (extract) extract.destroy(error);
    else early ??= error;
  });
  // Imported here: commands that only write archives need not load the parser and its streams library.
  const { default: tarStream } = await import('tar-stream');
  extract = tarStream.extract();
  if (early) extract.destroy(early);
  source.pipe(extract as unknown as NodeJS.WritableStream);
  try {
    for await (const entry of extract) {
      const h = entry.header as import('tar-stream').Header & { byteOffset?: number };
      const body = entry as unknown as Readable;
      yield {
        name: h.name,
        type: h.type,
        size: h.size,
        mode: h.mode,
        ...(h.linkname ? { linkname: h.linkname } : {}),
        offset: h.byteOffset ?? 0,
        body,
      };
      body.resume();
    }
  } finally {
    source.unpipe(extract as unknown as NodeJS.WritableStream);
    source.destroy();
  }
}
