// Orderings nixpkgs uses for store paths. Plain UTF-16 comparison equals Python's code-point
// comparison for the ASCII characters Nix allows in store path names.

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * auto-layer.py's `path_key`: split at the first `-` into (hash part, name) and order by name, then
 * by hash part (`/nix/store/abc-foo` → (`foo`, `/nix/store/abc`)). A path without `-` (Python would
 * raise) is ordered as an empty name.
 */
export function comparePathKeys(a: string, b: string): number {
  const da = a.indexOf('-');
  const db = b.indexOf('-');
  const nameA = da < 0 ? '' : a.slice(da + 1);
  const nameB = db < 0 ? '' : b.slice(db + 1);
  return compareStrings(nameA, nameB) || compareStrings(da < 0 ? a : a.slice(0, da), db < 0 ? b : b.slice(0, db));
}

/**
 * One string that sorts like {@link comparePathKeys}: `name NUL hash part` (a NUL sorts below every
 * character a store path can hold), so large layers sort with precomputed keys.
 */
export function pathSortKey(path: string): string {
  const dash = path.indexOf('-');
  return dash < 0 ? `\u0000${path}` : `${path.slice(dash + 1)}\u0000${path.slice(0, dash)}`;
}

/**
 * closure-graph.py's `package_name`: the path with its first `-`-separated segment moved to the end
 * (`/nix/store/h-foo-1.0` → `foo-1.0-/nix/store/h`), the tie-breaker of the popularity contest.
 */
export function packageNameKey(path: string): string {
  const dash = path.indexOf('-');
  return dash < 0 ? path : `${path.slice(dash + 1)}-${path.slice(0, dash)}`;
}

/** Compares two precomputed keys by code unit, as Python compares `str`. */
export { compareStrings };
