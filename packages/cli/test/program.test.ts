import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { repoRoot, run } from '@strata/test-utils';
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

describe('start-up', () => {
  /** The built-in modules the built CLI has loaded when it exits, for these arguments. */
  async function builtins(args: readonly string[]): Promise<string[]> {
    const report = "process.on('exit', () => process.stderr.write(JSON.stringify(process.moduleLoadList)))";
    const bin = join(repoRoot(), 'packages/cli/dist/bin.js');
    const { stderr } = await run(process.execPath, ['--import', `data:text/javascript,${encodeURIComponent(report)}`, bin, ...args], { allowFailure: true });
    return (JSON.parse(stderr.slice(stderr.lastIndexOf('["'))) as string[]).filter((m) => m.startsWith('NativeModule ')).map((m) => m.slice('NativeModule '.length));
  }

  it('loads no HTTP, TLS or worker threads for a command until it needs them', async () => {
    for (const command of ['stream-layered', 'build-layered', 'push', 'pull']) {
      const loaded = await builtins([command, '--help']);
      expect(loaded, command).toContain('child_process');
      for (const unused of ['http', 'https', 'tls', 'worker_threads']) expect(loaded, `${command} loads ${unused}`).not.toContain(unused);
    }
  });
});

