import { isUtf8 } from 'node:buffer';
import { DerivationError } from './errors.js';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

// Nix's escapes in derivation strings: \n \r \t, and a backslash before any other byte stands for that byte.
const UNESCAPE = new Uint8Array(256).map((_, i) => i);
UNESCAPE[0x6e] = 0x0a;
UNESCAPE[0x72] = 0x0d;
UNESCAPE[0x74] = 0x09;

const fatalUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Limits that keep a hostile derivation file from exhausting memory. */
export interface CursorLimits {
  /** How many list items (outputs, inputs, sources, arguments, variables, output names) the file may hold. */
  readonly maxItems: number;
}

/**
 * Reads Nix's derivation ATerm byte by byte. Every failure is a DerivationError naming the file and
 * the byte offset. Strings come back decoded as UTF-8 (the whole file is checked once; a string that
 * is not UTF-8 is refused, since a JS string cannot hold its bytes).
 */
export class AtermCursor {
  pos = 0;
  private items = 0;
  private readonly utf8: boolean;

  constructor(
    readonly bytes: Uint8Array,
    readonly file: string,
    private readonly limits: CursorLimits,
  ) {
    this.utf8 = isUtf8(bytes);
  }

  fail(message: string, at = this.pos, code: 'MALFORMED' | 'UNSUPPORTED' | 'TOO_LARGE' = 'MALFORMED'): never {
    throw new DerivationError(code, this.file, at, message);
  }

  /**
   * What is at the cursor, for messages: its one character, or "the end of the file". No more: a
   * derivation's strings may hold what should not reach a log.
   */
  private found(): string {
    if (this.pos >= this.bytes.length) return 'the end of the file';
    return JSON.stringify(String.fromCharCode(this.bytes[this.pos]!));
  }

  peek(): number | undefined {
    return this.bytes[this.pos];
  }

  startsWith(literal: string): boolean {
    for (let i = 0; i < literal.length; i++) if (this.bytes[this.pos + i] !== literal.charCodeAt(i)) return false;
    return true;
  }

  expect(literal: string): void {
    if (!this.startsWith(literal)) this.fail(`expected ${JSON.stringify(literal)}, found ${this.found()}`);
    this.pos += literal.length;
  }

  /** Counts one more list item against `maxItems`. */
  countItem(): void {
    if (++this.items > this.limits.maxItems) this.fail(`more than ${this.limits.maxItems} list items`, this.pos, 'TOO_LARGE');
  }

  /**
   * Reads `[item, item, ...]`, calling `item` for each (it reads the item itself). Stricter than Nix,
   * which also takes a missing or leading comma: Nix never writes those.
   */
  list(item: () => void): void {
    this.expect('[');
    if (this.peek() === 0x5d) {
      this.pos++;
      return;
    }
    for (;;) {
      this.countItem();
      item();
      if (this.peek() === 0x2c) this.pos++;
      else if (this.peek() === 0x5d) {
        this.pos++;
        return;
      } else this.fail(`expected "," or "]", found ${this.found()}`);
    }
  }

  /** Reads a quoted string with Nix's escapes. */
  string(): string {
    const open = this.pos;
    this.expect('"');
    const bytes = this.bytes;
    const start = this.pos;
    // First find the closing quote and count the escapes, so the unescaped bytes can be written
    // into one buffer of the exact size (a string of a million escapes makes no million pieces).
    let escapes = 0;
    let i = start;
    let nextQuote = bytes.indexOf(QUOTE, i);
    let nextBackslash = bytes.indexOf(BACKSLASH, i);
    for (;;) {
      if (nextQuote === -1) this.fail('unterminated string', open);
      if (nextBackslash === -1 || nextBackslash > nextQuote) break;
      if (nextBackslash + 1 >= bytes.length) this.fail('unterminated string', open);
      escapes++;
      i = nextBackslash + 2;
      if (nextQuote < i) nextQuote = bytes.indexOf(QUOTE, i);
      nextBackslash = bytes.indexOf(BACKSLASH, i);
    }
    const end = nextQuote;
    this.pos = end + 1;
    let raw = bytes.subarray(start, end);
    if (escapes > 0) {
      const out = Buffer.allocUnsafe(end - start - escapes);
      let o = 0;
      for (let j = start; j < end; j++) {
        const b = bytes[j]!;
        out[o++] = b === BACKSLASH ? UNESCAPE[bytes[++j]!]! : b;
      }
      raw = out;
    }
    if (this.utf8) return Buffer.from(raw.buffer, raw.byteOffset, raw.length).toString('utf8');
    try {
      return fatalUtf8.decode(raw);
    } catch {
      return this.fail('string is not valid UTF-8 (strata reads derivation strings as UTF-8 text)', open);
    }
  }
}
