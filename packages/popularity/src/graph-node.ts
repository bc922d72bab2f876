/**
 * One store path of a closure, as Nix's path-info and exportReferencesGraph describe it.
 * A `StorePath` record from @strata/closure fits this shape.
 */
export interface GraphNode {
  /** The full store path, e.g. `/nix/store/<hash>-hello-2.12`. */
  readonly path: string;
  /** Size of the path's NAR serialisation in bytes. */
  readonly narSize: number;
  /** Full store paths this path references; may include the path itself. */
  readonly references: readonly string[];
}
