import { readDerivationFile } from './_derivation-file.js';
import { AtermCursor } from './_aterm.js';
import { type ClosureError, DerivationError } from './errors.js';
import { DEFAULT_STORE_DIR, validateStorePath } from './store-path.js';

/**
 * One output of a derivation, with the field names of `nix show-derivation`. An input-addressed
 * output has only `path`; a fixed-output one `path`, `hashAlgo` (`sha256`, `r:sha256` for
 * recursive) and `hash` (hex); a floating content-addressed one only `hashAlgo`; an impure one
 * `hashAlgo` and `hash: "impure"`; a deferred one nothing. Empty fields are left out.
 */
export interface DerivationOutput {
  readonly path?: string;
  readonly hashAlgo?: string;
  readonly hash?: string;
}

/**
 * The outputs wanted from an output of an input derivation that is itself a derivation (Nix's
 * experimental dynamic derivations, `DrvWithVersion("xp-dyn-drv", ...)`): output name → what is
 * wanted from the derivation that output produces.
 */
export interface DynamicDerivationInput {
  readonly outputs: readonly string[];
  readonly dynamicOutputs?: Readonly<Record<string, DynamicDerivationInput>>;
}

/**
 * A store derivation (`.drv` file) as Nix writes it. Records are objects without a prototype, so a
 * variable named `__proto__` or `constructor` is just a key.
 */
export interface Derivation {
  /** The `.drv` store path, when the file was read from one. */
  readonly path?: string;
  /** The derivation name: from the store path (without `.drv`), else the `name` variable. */
  readonly name?: string;
  /** `"xp-dyn-drv"` for a `DrvWithVersion(...)` file; absent for the stable `Derive(...)`. */
  readonly version?: string;
  readonly outputs: Readonly<Record<string, DerivationOutput>>;
  /** Input derivation (`.drv` store path) → the names of the outputs this derivation uses. */
  readonly inputDrvs: Readonly<Record<string, readonly string[]>>;
  /** Outputs of outputs of input derivations (dynamic derivations only), by input `.drv` path. */
  readonly dynamicInputDrvs?: Readonly<Record<string, Readonly<Record<string, DynamicDerivationInput>>>>;
  /** Store paths used as they are (sources, `builtins.toFile` files), sorted. */
  readonly inputSrcs: readonly string[];
  readonly system: string;
  readonly builder: string;
  readonly args: readonly string[];
  /** The builder's environment (with structured attrs, the JSON is in `__json`). */
  readonly env: Readonly<Record<string, string>>;
}

/** Options for {@link parseDerivation} and {@link readDerivation}. */
export interface ParseDerivationOptions {
  /** Refuse a file larger than this many bytes (TOO_LARGE) before reading it. @default 67108864 (64 MiB) */
  readonly maxBytes?: number;
  /** Refuse a file with more list items (outputs, inputs, sources, arguments, variables) than this. @default 1048576 */
  readonly maxItems?: number;
  /** The store directory paths in the file must lie in. @default '/nix/store' */
  readonly storeDir?: string;
}

/** The largest derivation file read unless `maxBytes` says otherwise: 64 MiB (real ones are KBs to a few MB). */
export const DEFAULT_MAX_DERIVATION_BYTES = 64 * 1024 * 1024;
const DEFAULT_MAX_ITEMS = 1 << 20;
// Dynamic-derivation inputs nest an output of an output of ...; real files nest a level or two.
const MAX_DYNAMIC_DEPTH = 64;
const DYN_DRV_VERSION = 'xp-dyn-drv';

function record<T>(): Record<string, T> {
  return Object.create(null) as Record<string, T>;
}

/** True for a path whose name says it is a derivation, as Nix decides (`isDerivation`). */
export function isDerivationPath(path: string): boolean {
  return path.endsWith('.drv');
}

class DerivationParser {
  private readonly storeDir: string;
  constructor(
    private readonly c: AtermCursor,
    options: ParseDerivationOptions,
  ) {
    this.storeDir = options.storeDir ?? DEFAULT_STORE_DIR;
  }

  /** A store path, or (when `allowEmpty`) the empty string of an output whose path is not known yet. */
  private path(what: string, allowEmpty = false): string {
    const at = this.c.pos;
    const value = this.c.string();
    if (value === '' && allowEmpty) return value;
    try {
      return validateStorePath(value, this.storeDir, what);
    } catch (error) {
      return this.c.fail((error as ClosureError).message.replace(/^closure: /, ''), at);
    }
  }

  private put<T>(target: Record<string, T>, key: string, value: T, what: string, at: number): void {
    if (Object.hasOwn(target, key)) this.c.fail(`${what} ${JSON.stringify(key)} appears twice`, at);
    target[key] = value;
  }

  private strings(): string[] {
    const out = new Set<string>();
    this.c.list(() => out.add(this.c.string()));
    return [...out].sort();
  }

  private output(outputs: Record<string, DerivationOutput>): void {
    const at = this.c.pos;
    this.c.expect('(');
    const name = this.c.string();
    this.c.expect(',');
    const path = this.path(`output ${JSON.stringify(name)}: path`, true);
    this.c.expect(',');
    const hashAlgo = this.c.string();
    this.c.expect(',');
    const hash = this.c.string();
    this.c.expect(')');
    this.put(outputs, name, { ...(path ? { path } : {}), ...(hashAlgo ? { hashAlgo } : {}), ...(hash ? { hash } : {}) }, 'output', at);
  }

  /** An inputDrvs entry's outputs: a list, or (dynamic derivations) `([outputs],[(output, node)...])`. */
  private inputNode(dynamic: boolean, depth: number): DynamicDerivationInput {
    if (!dynamic || this.c.peek() !== 0x28) return { outputs: this.strings() };
    if (depth >= MAX_DYNAMIC_DEPTH) this.c.fail(`dynamic derivation inputs nested deeper than ${MAX_DYNAMIC_DEPTH} levels`);
    this.c.expect('(');
    const outputs = this.strings();
    this.c.expect(',');
    const children = record<DynamicDerivationInput>();
    this.c.list(() => {
      const at = this.c.pos;
      this.c.expect('(');
      const name = this.c.string();
      this.c.expect(',');
      this.put(children, name, this.inputNode(true, depth + 1), 'dynamic output', at);
      this.c.expect(')');
    });
    this.c.expect(')');
    return Object.keys(children).length > 0 ? { outputs, dynamicOutputs: children } : { outputs };
  }

  private inputDrv(inputDrvs: Record<string, readonly string[]>, dynamicInputs: Record<string, Record<string, DynamicDerivationInput>>, dynamic: boolean): void {
    const at = this.c.pos;
    this.c.expect('(');
    const pathAt = this.c.pos;
    const drvPath = this.path('input derivation');
    if (!isDerivationPath(drvPath)) this.c.fail(`input derivation ${drvPath} is not a .drv path`, pathAt);
    this.c.expect(',');
    const node = this.inputNode(dynamic, 0);
    if (node.outputs.length === 0 && !node.dynamicOutputs) this.c.fail(`input derivation ${drvPath} names no outputs`, pathAt);
    this.put(inputDrvs, drvPath, node.outputs, 'input derivation', at);
    if (node.dynamicOutputs) dynamicInputs[drvPath] = node.dynamicOutputs;
    this.c.expect(')');
  }

  parse(path: string | undefined): Derivation {
    const c = this.c;
    let version: string | undefined;
    if (c.startsWith('Derive(')) c.expect('Derive(');
    else if (c.startsWith('DrvWithVersion(')) {
      c.expect('DrvWithVersion(');
      const at = c.pos;
      version = c.string();
      if (version !== DYN_DRV_VERSION) {
        c.fail(`derivation format version ${JSON.stringify(version)} is not supported (strata reads "Derive" and "DrvWithVersion(\\"${DYN_DRV_VERSION}\\")")`, at, 'UNSUPPORTED');
      }
      c.expect(',');
    } else c.fail('not a derivation: expected "Derive(" or "DrvWithVersion("');

    const outputs = record<DerivationOutput>();
    c.list(() => this.output(outputs));
    c.expect(',');
    const inputDrvs = record<readonly string[]>();
    const dynamicInputs = record<Record<string, DynamicDerivationInput>>();
    c.list(() => this.inputDrv(inputDrvs, dynamicInputs, version !== undefined));
    c.expect(',');
    const inputSrcs = new Set<string>();
    c.list(() => inputSrcs.add(this.path('input source')));
    c.expect(',');
    const system = c.string();
    c.expect(',');
    const builder = c.string();
    c.expect(',');
    const args: string[] = [];
    c.list(() => args.push(c.string()));
    c.expect(',');
    const env = record<string>();
    c.list(() => {
      const at = c.pos;
      c.expect('(');
      const key = c.string();
      c.expect(',');
      this.put(env, key, c.string(), 'variable', at);
      c.expect(')');
    });
    c.expect(')');
    this.expectEnd();
    if (Object.keys(outputs).length === 0) c.fail('the derivation has no outputs', 0);
    const name = nameOf(path, this.storeDir) ?? env.name;
    return {
      ...(path !== undefined ? { path } : {}),
      ...(name !== undefined ? { name } : {}),
      ...(version !== undefined ? { version } : {}),
      outputs,
      inputDrvs,
      ...(Object.keys(dynamicInputs).length > 0 ? { dynamicInputDrvs: dynamicInputs } : {}),
      inputSrcs: [...inputSrcs].sort(),
      system,
      builder,
      args,
      env,
    };
  }

  /** Nix writes nothing after the closing parenthesis; a final newline (an edited file) is allowed. */
  private expectEnd(): void {
    const c = this.c;
    while (c.peek() === 0x0a || c.peek() === 0x0d || c.peek() === 0x20 || c.peek() === 0x09) c.pos++;
    if (c.pos < c.bytes.length) c.fail('unexpected bytes after the end of the derivation');
  }
}

function nameOf(path: string | undefined, storeDir: string): string | undefined {
  if (path === undefined || !path.startsWith(`${storeDir}/`) || !isDerivationPath(path)) return undefined;
  const base = path.slice(storeDir.length + 1);
  return base.includes('/') || base[32] !== '-' ? undefined : base.slice(33, -'.drv'.length);
}

/**
 * Parses a Nix derivation file (ATerm: `Derive([outputs],[inputDrvs],[inputSrcs],"system",
 * "builder",[args],[env])`, or the experimental `DrvWithVersion("xp-dyn-drv",...)`), unescaping
 * strings exactly as Nix does. `path` names the file in errors and gives the derivation its name.
 * Throws a {@link DerivationError} naming the file and the byte offset: MALFORMED, UNSUPPORTED (an
 * unknown format version), TOO_LARGE (over `maxBytes` or `maxItems`).
 * @example
 * const drv = parseDerivation(await readFile(p), p);
 * drv.outputs.out?.path; // '/nix/store/…-hello-2.12'
 */
export function parseDerivation(input: Uint8Array | string, path?: string, options: ParseDerivationOptions = {}): Derivation {
  const file = path ?? '<derivation>';
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_DERIVATION_BYTES;
  // A string is measured before it is encoded: a hostile one is refused without a copy.
  const size = typeof input === 'string' ? Buffer.byteLength(input) : input.length;
  if (size > maxBytes) throw new DerivationError('TOO_LARGE', file, undefined, `${size} bytes, more than the limit of ${maxBytes} for a derivation`);
  const bytes = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
  const cursor = new AtermCursor(bytes, file, { maxItems: options.maxItems ?? DEFAULT_MAX_ITEMS });
  return new DerivationParser(cursor, options).parse(path);
}

/**
 * Reads and parses a derivation file (see {@link parseDerivation}). `storeRoot` is a chroot store:
 * `/nix/store/x.drv` is read from `<storeRoot>/nix/store/x.drv`. The size limit is checked before
 * any byte is read.
 */
export async function readDerivation(path: string, options: ParseDerivationOptions & { readonly storeRoot?: string } = {}): Promise<Derivation> {
  const { bytes } = await readDerivationFile(path, options.storeRoot, options.maxBytes ?? DEFAULT_MAX_DERIVATION_BYTES);
  return parseDerivation(bytes, path, options);
}
