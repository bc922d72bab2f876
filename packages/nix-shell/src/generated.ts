import { compareStrings, hashPart, makeSourcePath, makeTextPath, type NarNode, narInfoOfTree, type StorePath } from '@strata/closure';

/** A file strata writes into the image. */
export interface GeneratedFile {
  /** Absolute path in the image (inside a generated store path). */
  readonly path: string;
  readonly content: string;
  /** 0o444, or 0o555 for an executable (directories in between are 0o555, as in the store). */
  readonly mode: number;
}

/**
 * A store object strata generates (nixpkgs makes these with writeText / writeShellScriptBin),
 * named as Nix would name it for its contents and references (`builtins.toFile` for a text file,
 * a content-addressed tree for a script's directory), with its NAR size and hash, so an image
 * builder adds it like any store path; `files` are what to write.
 */
export interface GeneratedStorePath extends StorePath {
  readonly narHash: string;
  readonly files: readonly GeneratedFile[];
}

/** The candidates whose hash part occurs in `content`: the references Nix's scanner would find. */
function referencesIn(content: string, candidates: readonly string[]): string[] {
  return [...new Set(candidates.filter((c) => content.includes(hashPart(c))))].sort(compareStrings);
}

/** A text file store object (`builtins.toFile name content`), referring to the candidates it names. */
export function generateTextFile(name: string, content: string, candidates: readonly string[]): GeneratedStorePath {
  const references = referencesIn(content, candidates);
  const path = makeTextPath(name, content, references);
  return { path, ...narInfoOfTree({ type: 'regular', contents: content }), references, files: [{ path, content, mode: 0o444 }] };
}

/** A store object holding one executable, `<path>/bin/<name>` (nixpkgs' `writeShellScriptBin`). */
export function generateScriptBin(name: string, content: string, candidates: readonly string[]): GeneratedStorePath {
  const references = referencesIn(content, candidates);
  const tree: NarNode = { type: 'directory', entries: { bin: { type: 'directory', entries: { [name]: { type: 'regular', executable: true, contents: content } } } } };
  const nar = narInfoOfTree(tree);
  const path = makeSourcePath(name, nar.narHash, references);
  return { path, ...nar, references, files: [{ path: `${path}/bin/${name}`, content, mode: 0o555 }] };
}

// Store names allow letters, digits and +-._?= only, up to 211 characters.
const STORE_NAME_CHAR = /[^A-Za-z0-9+\-._?=]/g;

/** nixpkgs' name for the file holding a passAsFile variable, with characters Nix refuses replaced by `_`. */
export function passAsFileStoreName(variable: string): string {
  return `shell-passAsFile-${variable}`.replace(STORE_NAME_CHAR, '_').slice(0, 211);
}
