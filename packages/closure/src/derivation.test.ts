import { open, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempDir } from '@strata/test-utils';
import { describe, expect, it } from 'vitest';
import { parseDerivation, readDerivation } from './derivation.js';
import { ClosureError, DerivationError } from './errors.js';

const S = '/nix/store';
const out = `${S}/5zpgks6807nh2r6pxgch9blp99f35f45-tricky`;
const dev = `${S}/i3qsr3v8nac4hd4g5xiczy6d4wgzhzj6-tricky-dev`;
const dep = `${S}/8wr6mlm54xnvpaacj90krq52c10q6mmv-dep.drv`;
const src = `${S}/3yb8jp114ypxl7j26b075czcz9c5l7hz-t.nix`;
const drvPath = `${S}/n9s7qbpwzxcda8sywxqzz70yy7yrnwc8-tricky.drv`;

/** Writes a string the way Nix's printString does. */
const q = (s: string) => `"${s.replace(/[\\"]/g, (c) => `\\${c}`).replace(/\n/g, '\\n').replace(/\r/g, '\\r').replace(/\t/g, '\\t')}"`;

function drvText(env: [string, string][], extra: { args?: string[]; inputDrvs?: string } = {}): string {
  return (
    `Derive([("dev",${q(dev)},"",""),("out",${q(out)},"","")],` +
    `${extra.inputDrvs ?? `[(${q(dep)},["dev","out"])]`},[${q(src)}],"x86_64-linux","/bin/sh",` +
    `[${(extra.args ?? ['-c', 'echo hi']).map(q).join(',')}],[${env.map(([k, v]) => `(${q(k)},${q(v)})`).join(',')}])`
  );
}

function failure(fn: () => unknown): DerivationError {
  try {
    fn();
  } catch (error) {
    if (error instanceof DerivationError) return error;
    throw error;
  }
  throw new Error('expected a DerivationError');
}

describe('parseDerivation', () => {
  it('reads every part of a derivation and unescapes strings as Nix does', () => {
    const weird = 'a\nb\tc\rd\\e"f ü $' + '{x} \u0001 \u{1F600}';
    const drv = parseDerivation(drvText([['name', 'tricky'], ['weird', weird], ['empty', '']]), drvPath);
    expect(drv).toEqual({
      path: drvPath,
      name: 'tricky',
      outputs: { dev: { path: dev }, out: { path: out } },
      inputDrvs: { [dep]: ['dev', 'out'] },
      inputSrcs: [src],
      system: 'x86_64-linux',
      builder: '/bin/sh',
      args: ['-c', 'echo hi'],
      env: { name: 'tricky', weird, empty: '' },
    });
  });

  it('takes bytes and text alike, and a backslash before any other byte as that byte', () => {
    const text = drvText([['v', 'x']]).replace('"echo hi"', '"e\\cho \\"\\\\ h\\i"');
    const fromText = parseDerivation(text);
    expect(fromText.args).toEqual(['-c', 'echo "\\ hi']);
    expect(parseDerivation(Buffer.from(text))).toEqual(fromText);
  });

  it('keeps variables named like Object properties as plain keys', () => {
    const drv = parseDerivation(drvText([['__proto__', 'p'], ['constructor', 'c']]));
    expect(Object.keys(drv.env)).toEqual(['__proto__', 'constructor']);
    expect(drv.env.__proto__).toBe('p');
    expect(drv.env.toString).toBeUndefined();
  });

  it('reads fixed-output, floating and impure outputs with nix show-derivation field names', () => {
    const hex = 'a'.repeat(64);
    const text = `Derive([("a",${q(out)},"r:sha256","${hex}"),("b","","r:sha256",""),("c","","sha256","impure"),("d","","","")],[],[],"s","b",[],[])`;
    expect(parseDerivation(text).outputs).toEqual({
      a: { path: out, hashAlgo: 'r:sha256', hash: hex },
      b: { hashAlgo: 'r:sha256' },
      c: { hashAlgo: 'sha256', hash: 'impure' },
      d: {},
    });
  });

  it('reads the dynamic-derivations form DrvWithVersion("xp-dyn-drv", ...)', () => {
    const text = `DrvWithVersion("xp-dyn-drv",[("out",${q(out)},"","")],[(${q(dep)},(["out"],[("out",(["lib"],[("lib",["bin"])]))])),(${q(dep.replace('dep.drv', 'two.drv'))},["out"])],[],"s","b",[],[])`;
    const drv = parseDerivation(text);
    expect(drv.version).toBe('xp-dyn-drv');
    expect(drv.inputDrvs).toEqual({ [dep]: ['out'], [dep.replace('dep.drv', 'two.drv')]: ['out'] });
    expect(drv.dynamicInputDrvs).toEqual({ [dep]: { out: { outputs: ['lib'], dynamicOutputs: { lib: { outputs: ['bin'] } } } } });
  });

  it('refuses an unknown format version as UNSUPPORTED, naming the file and byte', () => {
    const e = failure(() => parseDerivation(`DrvWithVersion("xp-future",[],[],[],"s","b",[],[])`, '/tmp/f.drv'));
    expect(e.code).toBe('UNSUPPORTED');
    expect(e.offset).toBe(15);
    expect(e.message).toBe('closure: /tmp/f.drv: byte 15: derivation format version "xp-future" is not supported (strata reads "Derive" and "DrvWithVersion(\\"xp-dyn-drv\\")")');
    expect(e).toBeInstanceOf(ClosureError);
  });

  it.each([
    ['truncated', (t: string) => t.slice(0, t.indexOf('],[(') + 1), /byte 146: expected ",", found the end of the file/],
    ['an unterminated string', (t: string) => t.slice(0, t.lastIndexOf('"')), /byte \d+: unterminated string/],
    ['a missing comma', (t: string) => t.replace('],[("', ']["'), /expected ","/],
    ['trailing bytes', (t: string) => `${t}x`, /unexpected bytes after the end/],
    ['a relative input source', (t: string) => t.replace(q(src), '"t.nix"'), /input source t\.nix is not in the store directory/],
    ['an input derivation that is not a .drv', (t: string) => t.replace(q(dep), q(src)), /is not a \.drv path/],
    ['a variable given twice', (t: string) => t.replace('("v","x")', '("v","x"),("v","y")'), /variable "v" appears twice/],
    ['no Derive', () => 'Drv()', /byte 0: not a derivation/],
    ['no outputs', () => 'Derive([],[],[],"s","b",[],[])', /byte 0: the derivation has no outputs/],
  ])('names the byte where %s goes wrong', (_what, mangle, message) => {
    const e = failure(() => parseDerivation(mangle(drvText([['v', 'x']])), '/nix/store/x.drv'));
    expect(e.code).toBe('MALFORMED');
    expect(e.file).toBe('/nix/store/x.drv');
    expect(e.message).toMatch(message);
    expect(e.offset).toBeTypeOf('number');
  });

  it('refuses a string that is not UTF-8, at the string', () => {
    const text = Buffer.from(drvText([['v', 'x']]));
    const at = text.indexOf('"x"');
    text[at + 1] = 0xff;
    const e = failure(() => parseDerivation(text));
    expect(e.offset).toBe(at);
    expect(e.message).toMatch(/not valid UTF-8/);
  });

  it('refuses a file over maxBytes before reading it, and too many items', () => {
    const big = 'x'.repeat(101 * 1024 * 1024);
    const e = failure(() => parseDerivation(big, '/tmp/big.drv'));
    expect(e.code).toBe('TOO_LARGE');
    expect(e.message).toMatch(/^closure: \/tmp\/big\.drv: 105906176 bytes, more than the limit of 67108864/);
    const many = drvText(Array.from({ length: 2000 }, (_, i) => [`v${i}`, ''] as [string, string]));
    expect(failure(() => parseDerivation(many, undefined, { maxItems: 1000 })).message).toMatch(/more than 1000 list items/);
  });

  it('parses a 100 MB variable when allowed, and deep nesting fails without using the stack', () => {
    // Written escaped already (v\" is the two characters v"): 105 MiB of file, 70 MiB of value.
    const text = drvText([['big', 'PLACEHOLDER']]).replace('PLACEHOLDER', 'v\\"'.repeat(35 * 1024 * 1024));
    const drv = parseDerivation(text, undefined, { maxBytes: 200 * 1024 * 1024 });
    expect(drv.env.big!.length).toBe(2 * 35 * 1024 * 1024);
    expect(drv.env.big!.slice(0, 4)).toBe('v"v"');
    const deep = `DrvWithVersion("xp-dyn-drv",[("out",${q(out)},"","")],[(${q(dep)},${'(["out"],[("out",'.repeat(100_000)}`;
    expect(failure(() => parseDerivation(deep)).message).toMatch(/nested deeper than 64 levels/);
    expect(failure(() => parseDerivation(`Derive(${'['.repeat(10_000_000)}`)).message).toMatch(/byte 8: expected "\("/);
  });
});

describe('readDerivation', () => {
  it('reads a file from a chroot store and refuses a huge one by its size alone', async () => {
    const dir = await makeTempDir();
    try {
      await writeFile(join(dir.path, 'x.drv'), drvText([['name', 'tricky']]));
      expect((await readDerivation('/x.drv', { storeRoot: dir.path })).env).toEqual({ name: 'tricky' });
      const huge = join(dir.path, 'huge.drv');
      await (await open(huge, 'w')).close();
      await truncate(huge, 10 * 1024 * 1024 * 1024); // sparse: reading it would take 10 GiB
      const e = await readDerivation(huge).catch((error: unknown) => error as DerivationError);
      expect(e).toBeInstanceOf(DerivationError);
      expect((e as DerivationError).code).toBe('TOO_LARGE');
      const missing = (await readDerivation('/nix/store/00000000000000000000000000000000-gone.drv').catch((error: unknown) => error)) as DerivationError;
      expect(missing.code).toBe('NOT_FOUND');
      expect(missing.message).toMatch(/gone\.drv: cannot read the derivation/);
    } finally {
      await dir.remove();
    }
  });
});
