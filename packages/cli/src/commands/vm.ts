import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { type RootChange, runAsRoot, type VmMount } from '@strata/vm';
import { type Command, Option } from 'commander';
import type { CommandContext } from '../context.js';
import { CliError } from '../errors.js';

interface VmRunFlags {
  root: string;
  mount: VmMount[];
  accel: 'auto' | 'kvm' | 'tcg';
  memory?: string;
  timeout?: string;
}

function parseMount(value: string, previous: VmMount[]): VmMount[] {
  const colon = value.lastIndexOf(':');
  if (colon <= 0 || colon === value.length - 1) throw new CliError(`vm run: --mount expects HOST:GUEST, got ${JSON.stringify(value)}`, 'USAGE');
  return [...previous, { host: value.slice(0, colon), guest: value.slice(colon + 1) }];
}

function positiveInteger(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new CliError(`vm run: ${flag} expects a positive integer, got ${JSON.stringify(value)}`, 'USAGE');
  return n;
}

/** One JSON line per change; the mode is written in octal (`"4755"`), as chmod takes it. */
function changeLine(c: RootChange): string {
  const record = { path: c.path, change: c.change, type: c.type, uid: c.uid, gid: c.gid, mode: c.mode.toString(8).padStart(4, '0') };
  const extra = c.target !== undefined ? { target: c.target } : c.rdev ? { rdev: c.rdev } : {};
  return `${JSON.stringify({ ...record, ...extra })}\n`;
}

/** `strata vm run --root DIR SCRIPT`: runs a script as root in a QEMU VM and prints its output and changes. */
export function registerVm(program: Command, context: CommandContext): void {
  const vm = program.command('vm').description('run scripts as root in a QEMU virtual machine (runAsRoot)');
  vm.command('run')
    .description("run SCRIPT as root in a VM chrooted into a copy of DIR; print its output, then the root's changes as JSON lines")
    .argument('<script>', 'the script file (bash or sh), or - for standard input')
    .requiredOption('--root <dir>', 'the root directory the script runs in (a copy is used; DIR is not modified)')
    .option('--mount <host:guest>', 'mount a host directory read-only in the root (repeatable), e.g. /nix/store:/nix/store', parseMount, [])
    .addOption(new Option('--accel <accel>', 'accelerator').choices(['auto', 'kvm', 'tcg']).default('auto'))
    .option('--memory <mib>', 'guest memory in MiB (default 512)')
    .option('--timeout <seconds>', 'kill the VM after this many seconds (default 600)')
    .addHelpText('after', '\nExits with the script\'s exit code. Change lines: {"path","change":"added|modified|deleted","type","uid","gid","mode"}.')
    .action(async (scriptFile: string, flags: VmRunFlags) => {
      const script = await readScript(scriptFile);
      const memory = positiveInteger('--memory', flags.memory);
      const timeout = positiveInteger('--timeout', flags.timeout);
      const result = await runAsRoot(flags.root, script, {
        mounts: flags.mount,
        accel: flags.accel,
        signal: context.signal,
        ...(memory ? { buildVMMemorySize: memory } : {}),
        ...(timeout ? { timeoutMs: timeout * 1000 } : {}),
      });
      context.stderr.write(result.stderr);
      context.stdout.write(result.stdout);
      context.stdout.write(result.changes.map(changeLine).join(''));
      context.stderr.write(`vm: accel ${result.accel}, exit code ${result.exitCode}\n`);
      process.exitCode = result.exitCode;
    });
}

// Bytes, not text: a script may hold bytes that are not UTF-8 (a latin-1 sed pattern), and they must
// reach the guest unchanged.
async function readScript(file: string): Promise<Buffer> {
  try {
    return file === '-' ? readFileSync(0) : await readFile(file);
  } catch (error) {
    throw new CliError(`vm run: cannot read script ${file}: ${(error as Error).message}`);
  }
}
