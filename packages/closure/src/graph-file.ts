import * as z from 'zod';
import { parseJsonInput, readInputFile } from './_input.js';
import { normaliseNarHash } from './nix-hash.js';
import { compareStrings, type StorePath } from './store-path.js';

const entry = z.looseObject({
  path: z.string(),
  narSize: z.number().int().nonnegative(),
  narHash: z.string().optional(),
  closureSize: z.number().int().nonnegative().optional(),
  references: z.array(z.string()),
  deriver: z.string().nullable().optional(),
});
const listSchema = z.array(entry);
const wrappedSchema = z.looseObject({ graph: listSchema });

/**
 * Parses a references graph as nixpkgs' `exportReferencesGraph` / `writeReferencesGraph` write it:
 * a JSON list of `{path, narSize, narHash, closureSize?, references}` (or `{"graph": [...]}`).
 * `where` names the file in error messages.
 */
export function parseReferencesGraph(text: string, where = 'graph'): StorePath[] {
  const data = parseJsonInput(text, where, listSchema, wrappedSchema);
  const list = Array.isArray(data) ? data : data.graph;
  return list.map((e, i) => ({
    path: e.path,
    narSize: e.narSize,
    ...(e.narHash ? { narHash: normaliseNarHash(e.narHash, `${where}[${i}].narHash`) } : {}),
    references: [...new Set(e.references)].sort(compareStrings),
    ...(e.deriver ? { deriver: e.deriver } : {}),
  }));
}

/** Reads and parses a references-graph JSON file (see {@link parseReferencesGraph}). */
export async function readReferencesGraph(file: string): Promise<StorePath[]> {
  const text = await readInputFile(file, 'graph file');
  return parseReferencesGraph(text, file);
}
