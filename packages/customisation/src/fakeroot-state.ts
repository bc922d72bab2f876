/** What fakeroot believes about one inode after the scripts ran. */
export interface FakerootEntry {
  readonly dev: number;
  readonly ino: number;
  /** Full st_mode: file-type bits and permission bits. */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly rdev: number;
}

/**
 * Parses a fakeroot `-s` state file: one line per touched inode, e.g.
 * `dev=fe00,ino=2146468,mode=104755,uid=1000,gid=1000,nlink=1,rdev=0`
 * (dev in hex, ino decimal, mode octal with the type bits, uid/gid/rdev decimal).
 * Lines that are not in this form are ignored.
 */
export function parseFakerootState(text: string): FakerootEntry[] {
  const entries: FakerootEntry[] = [];
  for (const line of text.split('\n')) {
    const fields = new Map(line.split(',').map((kv) => kv.split('=') as [string, string]));
    const dev = fields.get('dev');
    const ino = fields.get('ino');
    const mode = fields.get('mode');
    if (dev === undefined || ino === undefined || mode === undefined) continue;
    entries.push({
      dev: Number.parseInt(dev, 16),
      ino: Number(ino),
      mode: Number.parseInt(mode, 8),
      uid: Number(fields.get('uid') ?? 0),
      gid: Number(fields.get('gid') ?? 0),
      rdev: Number(fields.get('rdev') ?? 0),
    });
  }
  return entries;
}
