import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { type PathOwnership, type RootChange, runAsRoot, VmDiskFullError, type VmMount, VmTimeoutError } from '@strata/vm';
import { type Command, Option } from 'commander';
import * as z from 'zod';
import type { CommandContext } from '../context.js';
import { CliError } from '../errors.js';
import { readJson } from '../json.js';

interface VmRunFlags {
  root: string;
  mount: VmMount[];
  accel: 'auto' | 'kvm' | 'tcg';
  memory?: string;
  diskSize?: string;
  timeout?: string;
  ownership?: string;
  outputDir?: string;
}

const id = z.number().int().nonnegative();
// Modes as the change lines print them (octal strings, "4755") or as numbers.
const mode = z.union([id, z.string().regex(/^[0-7]{1,6}$/, 'expected an octal mode such as "4755"').transform((m) => Number.parseInt(m, 8))]);
const ownershipFile = z.record(
  z.string(),
  z.strictObject({
    uid: id.optional(),
    gid: id.optional(),
    mode: mode.optional(),
    device: z.strictObject({ type: z.enum(['char', 'block', 'fifo']), major: id, minor: id }).optional(),
  }),
);

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
  return `${JSON.stringify({ ...record, ...extra, ...(c.opaque ? { opaque: true } : {}) })}\n`;
}

async function readOwnership(file: string): Promise<Map<string, PathOwnership>> {
  const parsed = ownershipFile.safeParse(await readJson(file, '--ownership'));
  if (parsed.success) return new Map(Object.entries(parsed.data));
  const issue = parsed.error.issues[0];
  const [key, ...rest] = issue?.path ?? [];
  const at = `ownership${key === undefined ? '' : `[${JSON.stringify(key)}]`}${rest.map((k) => `.${String(k)}`).join('')}`;
  throw new CliError(`--ownership ${file}: ${at}: ${issue?.message ?? 'invalid'}`);
}

/** `strata vm run --root DIR SCRIPT`: runs a script as root in a QEMU VM and prints its output and changes. */
export function registerVm(program: Command, context: CommandContext): void {
  const vm = program.command('vm').description('run scripts as root in a QEMU virtual machine (runAsRoot)');
  vm.command('run')
    .description("run SCRIPT as root in a VM chrooted into DIR (DIR is not modified); print its output, then the root's changes as JSON lines")
    .argument('<script>', 'the script file (bash or sh), or - for standard input')
    .requiredOption('--root <dir>', 'the root directory the script runs in (a copy is used; DIR is not modified)')
    .option('--mount <host:guest>', 'mount a host directory read-only in the root (repeatable), e.g. /nix/store:/nix/store', parseMount, [])
    .addOption(new Option('--accel <accel>', 'accelerator').choices(['auto', 'kvm', 'tcg']).default('auto'))
    .option('--memory <mib>', 'guest memory in MiB (nixpkgs buildVMMemorySize; default 512)')
    .option('--disk-size <mib>', 'bound in MiB on what the script writes to the root and /tmp together (nixpkgs diskSize; default 1024)')
    .option('--timeout <seconds>', 'kill the VM after this many seconds (default 600)')
    .option('--ownership <file>', 'JSON {"/image/path": {"uid","gid","mode","device":{"type","major","minor"}}}: owners, modes and device nodes the root\'s files have in the image')
    .option('--output-dir <dir>', 'keep the changed paths here (a new directory): files with their new bytes, symlinks, placeholders for devices')
    .addHelpText(
      'after',
      '\nExits with the script\'s exit code. Change lines: {"path","change":"added|modified|deleted","type","uid","gid","mode"}, plus "target" for\n' +
        'symlinks, "rdev" for devices and "opaque":true for a directory that was removed and made again (nothing it held before shows).\n' +
        'A script that fills --disk-size, or runs past --timeout, fails with exit 1 after its output so far.',
    )
    .action(async (scriptFile: string, flags: VmRunFlags) => {
      const script = await readScript(scriptFile);
      const memory = positiveInteger('--memory', flags.memory);
      const diskSize = positiveInteger('--disk-size', flags.diskSize);
      const timeout = positiveInteger('--timeout', flags.timeout);
      const ownership = flags.ownership === undefined ? undefined : await readOwnership(flags.ownership);
      const result = await runAsRoot(flags.root, script, {
        mounts: flags.mount,
        accel: flags.accel,
        signal: context.signal,
        ...(memory ? { buildVMMemorySize: memory } : {}),
        ...(diskSize ? { diskSize } : {}),
        ...(timeout ? { timeoutMs: timeout * 1000 } : {}),
        ...(ownership ? { ownership } : {}),
        ...(flags.outputDir ? { outputDir: flags.outputDir } : {}),
      }).catch((error: unknown) => {
        // What the script printed before it ran out of time or disk is often the reason why: show it.
        if (error instanceof VmTimeoutError || error instanceof VmDiskFullError) {
          context.stderr.write(error.stderr);
          context.stdout.write(error.stdout);
        }
        throw error;
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
