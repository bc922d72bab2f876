import { ClosureError } from './errors.js';
import { compareStrings, type StorePath, validateStorePath } from './store-path.js';

/** Indexes records by path, rejecting a path described twice in different ways. */
export function indexRecords(records: Iterable<StorePath>, where: string, storeDir: string): Map<string, StorePath> {
  const byPath = new Map<string, StorePath>();
  for (const record of records) {
    validateStorePath(record.path, storeDir, `${where}: path`);
    const previous = byPath.get(record.path);
    if (previous && (previous.narSize !== record.narSize || previous.references.join() !== record.references.join())) {
      throw new ClosureError('DUPLICATE', `${where}: ${record.path} is described twice, with different sizes or references`);
    }
    byPath.set(record.path, record);
  }
  return byPath;
}

/**
 * Selects the closure of `roots` from an indexed graph (the whole graph when no roots are given),
 * checking that every reference is described and that there is no cycle but self-references.
 * Returns the records sorted by path.
 */
export function selectClosure(byPath: ReadonlyMap<string, StorePath>, roots: readonly string[], where: string): StorePath[] {
  const start = roots.length > 0 ? roots : [...byPath.keys()];
  const seen = new Set<string>();
  const stack: string[] = [];
  for (const root of start) {
    if (!byPath.has(root)) throw new ClosureError('NOT_FOUND', `${where}: root ${root} is not in the graph`);
    if (!seen.has(root)) {
      seen.add(root);
      stack.push(root);
    }
  }
  while (stack.length > 0) {
    const path = stack.pop()!;
    for (const ref of byPath.get(path)!.references) {
      if (!byPath.has(ref)) {
        throw new ClosureError('MISSING_REFERENCE', `${where}: ${path} refers to ${ref}, which the graph does not describe`);
      }
      if (!seen.has(ref)) {
        seen.add(ref);
        stack.push(ref);
      }
    }
  }
  const selected = [...seen].sort(compareStrings).map((p) => byPath.get(p)!);
  assertAcyclic(selected, where);
  return selected;
}

/** Throws CYCLE, naming the cycle, if the references (self-references aside) are not a DAG. */
export function assertAcyclic(records: readonly StorePath[], where: string): void {
  const byPath = new Map(records.map((r) => [r.path, r]));
  const state = new Map<string, 1 | 2>(); // 1: on the current DFS path, 2: done
  for (const record of records) {
    if (state.has(record.path)) continue;
    // Iterative DFS keeping the current path so a back edge can be reported as a cycle.
    const path: { node: string; next: number }[] = [{ node: record.path, next: 0 }];
    state.set(record.path, 1);
    while (path.length > 0) {
      const top = path[path.length - 1]!;
      const refs = byPath.get(top.node)?.references ?? [];
      if (top.next >= refs.length) {
        state.set(top.node, 2);
        path.pop();
        continue;
      }
      const ref = refs[top.next++]!;
      if (ref === top.node || !byPath.has(ref)) continue;
      const s = state.get(ref);
      if (s === 1) {
        const cycle = path.slice(path.findIndex((f) => f.node === ref)).map((f) => f.node);
        throw new ClosureError('CYCLE', `${where}: the references form a cycle: ${[...cycle, ref].join(' -> ')}`);
      }
      if (s === undefined) {
        state.set(ref, 1);
        path.push({ node: ref, next: 0 });
      }
    }
  }
}
