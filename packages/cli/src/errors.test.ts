import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '@strata/test-utils';
import { describe, expect, it } from 'vitest';
import { CliError, describeError, EXIT_CODES } from './errors.js';

/** The brand and the literal codes each package's errors.ts declares. */
function declaredCodes(): Map<string, Set<string>> {
  const packages = join(repoRoot(), 'packages');
  const result = new Map<string, Set<string>>();
  for (const name of readdirSync(packages)) {
    let text: string;
    try {
      text = readFileSync(join(packages, name, 'src/errors.ts'), 'utf8').replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '');
    } catch {
      continue;
    }
    // The base class's brand is the first Symbol.for in the file.
    const brand = /Symbol\.for\('([^']+)'\)/.exec(text)?.[1];
    if (!brand || name === 'cli') continue;
    // Codes are the literals of the code types (`type XErrorCode = 'A' | 'B';`) and of the
    // registry's list of spec codes (`SPEC_ERROR_CODES = [...] as const`).
    const declarations = [...text.matchAll(/type \w*ErrorCode =([^;]*);|_CODES = \[([^\]]*)\]/g)].map((m) => m[1] ?? m[2]!).join('\n');
    const codes = new Set([...declarations.matchAll(/'([A-Z][A-Z0-9_]+)'/g)].map((m) => m[1]!));
    result.set(brand, codes);
  }
  return result;
}

function branded(brand: string, code: string): Error {
  return Object.assign(new Error(`something about ${code}`), { code, [Symbol.for(brand)]: true });
}

describe('the exit-code contract', () => {
  it('decides every code of every package: 2 for input, 1 for failures', () => {
    const declared = declaredCodes();
    expect([...declared.keys()].sort()).toEqual(Object.keys(EXIT_CODES).sort());
    for (const [brand, codes] of declared) {
      expect([...codes].sort(), brand).toEqual(Object.keys(EXIT_CODES[brand]!).sort());
      for (const code of codes) expect(describeError(branded(brand, code)).exitCode, `${brand} ${code}`).toBe(EXIT_CODES[brand]![code]);
    }
  });

  it('exits 2 for usage errors, 130 for an abort, 1 for anything else', () => {
    expect(describeError(new CliError('--x: bad', 'USAGE'))).toEqual({ exitCode: 2, message: '--x: bad' });
    expect(describeError(new DOMException('interrupted', 'AbortError')).exitCode).toBe(130);
    expect(describeError(new TypeError('boom')).exitCode).toBe(1);
  });

  it('prefixes a code once: Node system errors already start with theirs', () => {
    const enoent = Object.assign(new Error("ENOENT: no such file or directory, open '/x'"), { code: 'ENOENT', syscall: 'open' });
    expect(describeError(enoent)).toEqual({ exitCode: 1, message: "ENOENT: no such file or directory, open '/x'" });
    expect(describeError(branded('strata.customisation.CustomisationError', 'SCRIPT_FAILED')).message).toBe('SCRIPT_FAILED: something about SCRIPT_FAILED');
  });
});
