import { readInputFile } from './_input.js';
import { ClosureError } from './errors.js';
import { normaliseNarHash } from './nix-hash.js';
import { compareStrings, type StorePath } from './store-path.js';

/**
 * Parses Nix's registration format (`nix-store --dump-db`, closureInfo's `registration` file):
 * per path the lines path, narHash, narSize, deriver (may be empty), reference count, references.
 */
export function parseRegistration(text: string, where = 'registration'): StorePath[] {
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const records: StorePath[] = [];
  let i = 0;
  const take = (what: string): string => {
    const line = lines[i];
    if (line === undefined) throw new ClosureError('MALFORMED', `${where}: line ${i + 1}: expected ${what}, found the end of the file`);
    i++;
    return line;
  };
  const number = (what: string): number => {
    const text = take(what);
    if (!/^\d+$/.test(text)) throw new ClosureError('MALFORMED', `${where}: line ${i}: expected ${what}, found ${JSON.stringify(text)}`);
    return Number(text);
  };
  while (i < lines.length) {
    const path = take('a store path');
    const narHash = normaliseNarHash(take('a NAR hash'), `${where}: line ${i}`);
    const narSize = number('a NAR size');
    const deriver = take('a deriver line');
    const count = number('a reference count');
    const references: string[] = [];
    for (let r = 0; r < count; r++) references.push(take(`reference ${r + 1} of ${count} of ${path}`));
    records.push({ path, narSize, narHash, references: [...new Set(references)].sort(compareStrings), ...(deriver ? { deriver } : {}) });
  }
  return records;
}

/** Reads and parses a registration file (see {@link parseRegistration}). */
export async function readRegistration(file: string): Promise<StorePath[]> {
  const text = await readInputFile(file, 'registration file');
  return parseRegistration(text, file);
}
