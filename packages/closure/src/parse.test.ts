import { describe, expect, it } from 'vitest';
import { indexRecords, selectClosure } from './_graph.js';
import { ClosureError } from './errors.js';
import { parseReferencesGraph } from './graph-file.js';
import { parsePathInfoJson } from './live-nix.js';
import { parseRegistration } from './registration.js';

const S = '/nix/store';
const a = `${S}/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-a`;
const b = `${S}/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-b`;
const c = `${S}/cccccccccccccccccccccccccccccccc-c`;
const HASH = 'sha256:0rklpmx7bs5i03dlxxgl49r3zi8lk6a825b0n3fdf2ds66rigq47';

function closureOf(records: ReturnType<typeof parseReferencesGraph>, roots: string[]) {
  return selectClosure(indexRecords(records, 'g.json', S), roots, 'g.json');
}

function failure(fn: () => unknown): ClosureError {
  try {
    fn();
  } catch (error) {
    if (error instanceof ClosureError) return error;
    throw error;
  }
  throw new Error('expected a ClosureError');
}

describe('parseReferencesGraph', () => {
  const graph = [
    { path: a, narSize: 10, narHash: HASH, closureSize: 60, references: [a, b] },
    { path: b, narSize: 20, narHash: HASH, references: [c] },
    { path: c, narSize: 30, narHash: HASH, references: [] },
  ];
  it('reads the list and the {graph} object, keeping self references', () => {
    const records = parseReferencesGraph(JSON.stringify(graph));
    expect(records.map((r) => r.path)).toEqual([a, b, c]);
    expect(records[0]!.references).toEqual([a, b]);
    expect(parseReferencesGraph(JSON.stringify({ graph, name: 'x' }))).toEqual(records);
  });
  it('selects the closure of a root only', () => {
    expect(closureOf(parseReferencesGraph(JSON.stringify(graph)), [b]).map((r) => r.path)).toEqual([b, c]);
  });
  it('names the file and field of malformed input', () => {
    expect(failure(() => parseReferencesGraph('[{', 'g.json')).message).toMatch(/g\.json: not valid JSON/);
    const bad = failure(() => parseReferencesGraph(JSON.stringify([{ path: a, narSize: '10', references: [] }]), 'g.json'));
    expect(bad.code).toBe('MALFORMED');
    expect(bad.message).toMatch(/g\.json\[0\]\.narSize/);
  });
  it('rejects a reference the graph does not describe', () => {
    const e = failure(() => closureOf(parseReferencesGraph(JSON.stringify([{ path: a, narSize: 1, references: [b] }])), []));
    expect(e.code).toBe('MISSING_REFERENCE');
    expect(e.message).toContain(`${a} refers to ${b}`);
  });
  it('rejects a cycle other than a self reference, naming it', () => {
    const cyclic = [
      { path: a, narSize: 1, references: [b] },
      { path: b, narSize: 1, references: [c] },
      { path: c, narSize: 1, references: [a, c] },
    ];
    const e = failure(() => closureOf(parseReferencesGraph(JSON.stringify(cyclic)), [a]));
    expect(e.code).toBe('CYCLE');
    expect(e.message).toContain(`${a} -> ${b} -> ${c} -> ${a}`);
  });
  it('rejects illegal names, paths outside the store and conflicting duplicates', () => {
    const named = (path: string) => failure(() => closureOf(parseReferencesGraph(JSON.stringify([{ path, narSize: 1, references: [] }])), []));
    expect(named(`${S}/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-b d`).code).toBe('INVALID_NAME');
    expect(named('/opt/x').code).toBe('OUTSIDE_STORE');
    const dup = [
      { path: a, narSize: 1, references: [] },
      { path: a, narSize: 2, references: [] },
    ];
    expect(failure(() => closureOf(parseReferencesGraph(JSON.stringify(dup)), [])).code).toBe('DUPLICATE');
  });
  it('says when a root is not in the graph', () => {
    expect(failure(() => closureOf(parseReferencesGraph(JSON.stringify(graph)), [`${S}/dddddddddddddddddddddddddddddddd-d`])).code).toBe('NOT_FOUND');
  });
});

describe('parseRegistration', () => {
  it('reads dump-db records with and without derivers', () => {
    const text = `${a}\n${HASH.slice(7)}\n10\n/nix/store/x.drv\n2\n${b}\n${a}\n${b}\nsha256:${'0'.repeat(64)}\n20\n\n0\n`;
    const records = parseRegistration(text);
    expect(records).toEqual([
      { path: a, narSize: 10, narHash: expect.stringMatching(/^sha256-/), references: [a, b], deriver: '/nix/store/x.drv' },
      { path: b, narSize: 20, narHash: `sha256-${Buffer.alloc(32).toString('base64')}`, references: [] },
    ]);
  });
  it('names the line of a malformed record', () => {
    expect(() => parseRegistration(`${a}\n${HASH}\nten\n`, 'reg')).toThrow(/reg: line 3: expected a NAR size, found "ten"/);
    expect(() => parseRegistration(`${a}\n${HASH}\n10\n\n2\n${b}\n`, 'reg')).toThrow(/reg: line 7: expected reference 2 of 2/);
  });
});

describe('parsePathInfoJson', () => {
  const sri = 'sha256-h+AXszG6CdfcsGAVgZSZFMU/ciL09U7bALHodXq9dGY=';
  it('accepts the array shape of older Nix and the object shape of newer Nix', () => {
    const array = parsePathInfoJson(JSON.stringify([{ path: a, narHash: sri, narSize: 5, references: [b, a], deriver: null }]));
    const object = parsePathInfoJson(JSON.stringify({ [a]: { narHash: sri, narSize: 5, references: [b, a] } }));
    expect(array).toEqual(object);
    expect(array[0]!.references).toEqual([a, b]);
  });
  it('reports invalid paths of the newer shape', () => {
    expect(failure(() => parsePathInfoJson(JSON.stringify({ [a]: null }))).code).toBe('NOT_FOUND');
  });
});
