/** A store name split as Nix's `builtins.parseDrvName` splits it. */
export interface DrvName {
  /** The package name, e.g. `hello`. */
  readonly name: string;
  /** The version, e.g. `2.12.1`; empty when the name has none. */
  readonly version: string;
}

/**
 * Splits a store name (`hello-2.12.1`, `python3-3.11.9-env`) into name and version as Nix's
 * `builtins.parseDrvName` does: the version starts after the first `-` that is followed by a
 * character other than an ASCII letter.
 * @example parseDrvName('hello-2.12.1') // { name: 'hello', version: '2.12.1' }
 * @example parseDrvName('bash-interactive-5.2p26-man') // { name: 'bash-interactive', version: '5.2p26-man' }
 */
export function parseDrvName(storeName: string): DrvName {
  for (let i = 0; i + 1 < storeName.length; i++) {
    if (storeName[i] === '-' && !/[A-Za-z]/.test(storeName[i + 1]!)) return { name: storeName.slice(0, i), version: storeName.slice(i + 1) };
  }
  return { name: storeName, version: '' };
}
