/** One authentication challenge from a `WWW-Authenticate` header (RFC 9110 §11.6.1). */
export interface Challenge {
  /** The scheme, lowercased: `bearer`, `basic`, … */
  readonly scheme: string;
  /** Parameters with lowercased names, e.g. `realm`, `service`, `scope`, `error`. */
  readonly params: Readonly<Record<string, string>>;
  /** A token68 value (`Negotiate abc==`), when the challenge carries one instead of parameters. */
  readonly token68?: string;
}

const TOKEN = /[!#$%&'*+.^_`|~0-9A-Za-z-]/;
const TOKEN68 = /[A-Za-z0-9._~+/-]/;

class Scanner {
  i = 0;
  constructor(readonly s: string) {}
  skip(chars: string): void {
    while (this.i < this.s.length && chars.includes(this.s[this.i]!)) this.i++;
  }
  read(re: RegExp): string {
    const start = this.i;
    while (this.i < this.s.length && re.test(this.s[this.i]!)) this.i++;
    return this.s.slice(start, this.i);
  }
  peek(): string | undefined {
    return this.s[this.i];
  }
  quoted(): string {
    let out = '';
    this.i++; // opening quote
    while (this.i < this.s.length && this.s[this.i] !== '"') {
      if (this.s[this.i] === '\\' && this.i + 1 < this.s.length) this.i++;
      out += this.s[this.i++];
    }
    this.i++; // closing quote
    return out;
  }
}

/** After a token: true when an `=` follows that starts a parameter value (not a token68's padding). */
function startsParam(sc: Scanner): boolean {
  const save = sc.i;
  sc.skip(' \t');
  if (sc.peek() !== '=') {
    sc.i = save;
    return false;
  }
  sc.i++;
  sc.skip(' \t');
  const next = sc.peek();
  if (next === undefined || next === ',' || next === '=') {
    sc.i = save;
    return false;
  }
  return true;
}

/**
 * Parses `WWW-Authenticate` values: several challenges per header and several headers,
 * case-insensitive schemes, quoted values with `\` escapes and commas inside quotes, token68s and
 * unknown parameters such as `error="insufficient_scope"`.
 * @example parseChallenges('Bearer realm="https://auth/token",service="reg",scope="repository:a/b:pull,push"')
 */
export function parseChallenges(headers: string | readonly string[]): Challenge[] {
  const out: { scheme: string; params: Record<string, string>; token68?: string }[] = [];
  for (const header of typeof headers === 'string' ? [headers] : headers) {
    const sc = new Scanner(header);
    let current: (typeof out)[number] | undefined;
    while (sc.i < header.length) {
      sc.skip(' \t,');
      const name = sc.read(TOKEN);
      if (name === '') {
        sc.i++; // stray character: skip it rather than loop
        continue;
      }
      if (current && startsParam(sc)) {
        current.params[name.toLowerCase()] = sc.peek() === '"' ? sc.quoted() : sc.read(TOKEN);
        continue;
      }
      current = { scheme: name.toLowerCase(), params: {} };
      out.push(current);
      sc.skip(' \t');
      const save = sc.i;
      const t68 = sc.read(TOKEN68);
      if (t68 !== '' && !startsParam(sc)) {
        sc.skip(' \t=');
        current.token68 = t68 + header.slice(save + t68.length, sc.i).replace(/[ \t]/g, '');
      } else sc.i = save;
    }
  }
  return out;
}

/** Picks the challenge to answer: Bearer first, then Basic (go-containerregistry's preference). */
export function pickChallenge(challenges: readonly Challenge[]): Challenge | undefined {
  return challenges.find((c) => c.scheme === 'bearer') ?? challenges.find((c) => c.scheme === 'basic');
}
