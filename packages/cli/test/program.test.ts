import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createProgram } from '../src/program.js';

const COMMANDS_DIR = join(import.meta.dirname, '../src/commands');

/** The command each file in src/commands registers, from its `program.command('name')` call. */
async function commandFiles(): Promise<string[]> {
  const files = (await readdir(COMMANDS_DIR)).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'));
  const names: string[] = [];
  for (const file of files) {
    const text = await readFile(join(COMMANDS_DIR, file), 'utf8');
    if (!/export function register\w+\(program: Command/.test(text)) continue;
    const name = /\.command\('([a-z-]+)/.exec(text)?.[1];
    expect(name, file).toBeDefined();
    names.push(name!);
  }
  return names.sort();
}

describe('createProgram', () => {
  const signal = new AbortController().signal;

  it('registers every command in src/commands, though it loads them lazily', async () => {
    const expected = await commandFiles();
    expect(expected.length).toBeGreaterThan(10);
    const program = await createProgram({ signal });
    expect(program.commands.map((c) => c.name()).sort()).toEqual(expected);
  });

  it('registers only the command the arguments name, and none for --version', async () => {
    for (const name of await commandFiles()) {
      const program = await createProgram({ signal }, [name, '--help']);
      expect(program.commands.map((c) => c.name())).toEqual([name]);
    }
    expect((await createProgram({ signal }, ['--version'])).commands).toEqual([]);
  });
});
