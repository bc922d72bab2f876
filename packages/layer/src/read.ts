import type { Readable } from 'node:stream';

/** One member of an archive being read. Consume `body` before asking for the next member (or leave it: it is drained). */
export interface TarMember {
  readonly name: string;
  readonly type: string;
  readonly size: number;
  /** Permission bits as the header records them (setuid/setgid/sticky included). */
  readonly mode: number;
  readonly linkname?: string;
  /** Owner ids and names; PAX `uid`/`gid`/`uname`/`gname` records win over the ustar fields. */
  readonly uid: number;
  readonly gid: number;
  readonly uname: string;
  readonly gname: string;
  /** Modification time in whole seconds since the epoch (a PAX `mtime` is truncated). */
  readonly mtime: number;
  /** Device numbers of a character or block device (0 otherwise). */
  readonly devmajor: number;
  readonly devminor: number;
  /** Byte offset of the member's content from the start of the archive. */
  readonly offset: number;
  readonly body: Readable;
}

/** A PAX numeric record, when present and a whole number >= 0. */
function paxNumber(pax: Record<string, string> | null | undefined, key: string): number | undefined {
  const value = pax?.[key];
  if (value === undefined) return undefined;
  const n = Math.floor(Number(value));
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
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
      const h = entry.header as import('tar-stream').Header & { byteOffset?: number; pax?: Record<string, string> | null };
      const body = entry as unknown as Readable;
      yield {
        name: h.name,
        type: h.type,
        size: h.size,
        mode: h.mode,
        ...(h.linkname ? { linkname: h.linkname } : {}),
        uid: paxNumber(h.pax, 'uid') ?? h.uid,
        gid: paxNumber(h.pax, 'gid') ?? h.gid,
        uname: h.pax?.uname ?? h.uname ?? '',
        gname: h.pax?.gname ?? h.gname ?? '',
        mtime: paxNumber(h.pax, 'mtime') ?? Math.floor((h.mtime?.getTime() ?? 0) / 1000),
        devmajor: h.devmajor ?? 0,
        devminor: h.devminor ?? 0,
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
