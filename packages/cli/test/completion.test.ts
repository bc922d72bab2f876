import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { hasPeers, makeTempDir, run, runStrata, type TempDir } from '@strata/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProgram } from '../src/program.js';

/** The completion script strata prints for `shell`, saved in `dir`. */
async function script(shell: string, dir: string): Promise<string> {
  const printed = await runStrata(['completion', shell]);
  expect(printed.exitCode, printed.stderr).toBe(0);
  expect(printed.stderr).toBe('');
  const file = join(dir, `strata.${shell}`);
  await writeFile(file, printed.stdout);
  return file;
}

/** What the program has: top-level command names, and the long flags of build-layered. */
async function programNames(): Promise<{ commands: string[]; buildLayered: string[] }> {
  const program = await createProgram({ signal: new AbortController().signal });
  const buildLayered = program.commands.find((c) => c.name() === 'build-layered')!;
  return { commands: program.commands.map((c) => c.name()), buildLayered: buildLayered.options.map((o) => o.long!) };
}

describe('strata completion bash', () => {
  let dir: TempDir;
  let file: string;
  beforeAll(async () => {
    dir = await makeTempDir('strata-completion-');
    file = await script('bash', dir.path);
    await mkdir(join(dir.path, 'work/store'), { recursive: true });
    await writeFile(join(dir.path, 'work/result.tar'), '');
    await writeFile(join(dir.path, 'work/image.json'), '{}');
  });
  afterAll(() => dir.remove());

  /** Sources the script in bash and asks it, as readline would, for the words that complete `words` (the last one being typed). */
  async function complete(...words: string[]): Promise<string[]> {
    const body = `source "$0"; COMP_WORDS=("\${@}"); COMP_CWORD=$(($# - 1)); _strata; printf '%s\\n' "\${COMPREPLY[@]}"`;
    const { stdout, stderr } = await run('bash', ['-c', body, file, 'strata', ...words], { cwd: join(dir.path, 'work') });
    expect(stderr).toBe('');
    return stdout.split('\n').filter(Boolean).sort();
  }

  it('registers itself for strata with complete -F', async () => {
    const { stdout } = await run('bash', ['-c', 'source "$0" && complete -p strata', file]);
    expect(stdout.trim()).toBe('complete -F _strata strata');
  });

  it('completes commands, subcommands and every command the program has', async () => {
    expect(await complete('bu')).toEqual(['build-image', 'build-layered', 'build-nix-shell']);
    expect(await complete('vm', '')).toEqual(['run']);
    expect(await complete('help', 'cl')).toEqual(['closure']);
    const { commands } = await programNames();
    expect(commands).toContain('completion');
    expect(await complete('')).toEqual([...commands, 'help'].sort());
  });

  it("completes a command's flags, all of them, and skips option values when finding the command", async () => {
    expect(await complete('build-layered', '--compresso')).toEqual(['--compressor']);
    expect(await complete('push', '--tls-verify', 'false', '--js')).toEqual(['--json']);
    const { buildLayered } = await programNames();
    const flags = await complete('build-layered', '--');
    expect(flags).toEqual([...buildLayered, '--help'].sort());
    // --name takes a value: "closure" after it is that value, not a command.
    expect(await complete('build-layered', '--name', 'closure', '--sp')).toEqual(['--spec']);
  });

  it('completes the values of a flag with a fixed set, also after --flag=', async () => {
    expect(await complete('build-layered', '--compressor', '')).toEqual(['gz', 'none', 'zstd']);
    expect(await complete('build-layered', '--compressor', '=', 'z')).toEqual(['zstd']);
    expect(await complete('vm', 'run', '--accel', 'k')).toEqual(['kvm']);
    expect(await complete('completion', '')).toEqual(['bash', 'fish', 'zsh']);
  });

  it('completes file names where a flag or an argument is a path, directories for a <dir>, nothing for other values', async () => {
    expect(await complete('build-layered', '-o', 're')).toEqual(['result.tar']);
    expect(await complete('build-layered', '--spec', '')).toEqual(['image.json', 'result.tar', 'store']);
    expect(await complete('closure', '--store-root', '')).toEqual(['store']);
    expect(await complete('push', 'im')).toEqual(['image.json']);
    // push SOURCE REFERENCE: the reference is no file.
    expect(await complete('push', 'result.tar', '')).toEqual([]);
    expect(await complete('build-layered', '--name', '')).toEqual([]);
  });
});

describe.runIf(hasPeers('fish'))('strata completion fish', () => {
  let dir: TempDir;
  let file: string;
  beforeAll(async () => {
    dir = await makeTempDir('strata-completion-fish-');
    file = await script('fish', dir.path);
    await writeFile(join(dir.path, 'result.tar'), '');
  });
  afterAll(() => dir.remove());

  /** What fish offers for the command line `line` (the words only). */
  async function complete(line: string): Promise<string[]> {
    const { stdout, stderr } = await run('fish', ['--no-config', '-c', 'source $argv[1]; complete -C $argv[2]', file, line], { cwd: dir.path });
    expect(stderr).toBe('');
    return stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split('\t')[0]!)
      .sort();
  }

  it('completes commands, subcommands, flags, their values and file names', async () => {
    expect(await complete('strata bu')).toEqual(['build-image', 'build-layered', 'build-nix-shell']);
    expect(await complete('strata vm ')).toEqual(['run']);
    expect(await complete('strata build-layered --compresso')).toEqual(['--compressor']);
    expect(await complete('strata build-layered --compressor ')).toEqual(['gz', 'none', 'zstd']);
    expect(await complete('strata build-layered --name closure --compressor z')).toEqual(['zstd']);
    expect(await complete('strata build-layered -o re')).toEqual(['result.tar']);
  });
});

describe.runIf(hasPeers('zsh'))('strata completion zsh', () => {
  let dir: TempDir;
  let file: string;
  beforeAll(async () => {
    dir = await makeTempDir('strata-completion-zsh-');
    file = await script('zsh', dir.path);
    await writeFile(join(dir.path, 'result.tar'), '');
  });
  afterAll(() => dir.remove());

  /**
   * Types `line` and a Tab into an interactive zsh (on a pseudo-terminal, through zsh/zpty) that
   * has compinit and the script loaded, and returns what the terminal showed after the Tab once it
   * shows `wanted` (a zsh glob), or after 20 s.
   */
  async function complete(line: string, wanted: string): Promise<string> {
    const driver = join(dir.path, 'driver.zsh');
    await writeFile(
      driver,
      `zmodload zsh/zpty
zpty z 'zsh -f -i'
zpty -w z "PROMPT=''; autoload -U compinit; compinit -u -D; source \${(q)1}; setopt nobeep; echo READY"
out=''
until [[ $out == *READY* ]]; do zpty -r -t z chunk && out+=$chunk || sleep 0.05; done
zpty -w -n z "$2"$'\\t'
out=''
for i in {1..400}; do
  zpty -r -t z chunk && out+=$chunk || sleep 0.05
  [[ $out == $~3 ]] && break
done
print -r -- "$out"
zpty -d z
`,
    );
    const { stdout } = await run('zsh', ['-f', driver, file, line, wanted], { cwd: dir.path, env: { TERM: 'dumb' }, timeoutMs: 60_000 });
    return stdout;
  }

  it('completes a command, a flag, its values and a file name', async () => {
    expect(await complete('strata build-la', '*build-layered *')).toContain('strata build-layered ');
    expect(await complete('strata build-layered --compresso', '*--compressor *')).toContain('--compressor');
    expect(await complete('strata build-layered --compressor ', '*gz*none*zstd*')).toMatch(/gz\s+none\s+zstd/);
    expect(await complete('strata build-layered -o resu', '*result.tar*')).toContain('result.tar');
    expect(await complete('strata vm ', '*vm run *')).toContain('strata vm run ');
  });
});
