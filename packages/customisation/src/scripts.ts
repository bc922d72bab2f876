import { spawn } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { lstat, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { which } from './_which.js';
import { CustomisationError } from './errors.js';
import { splitDevice } from '@strata/layer';
import { type FakerootEntry, parseFakerootState } from './fakeroot-state.js';

/** Ownership and type that the scripts gave one path, as fakeroot recorded it. */
export interface PathOwnership {
  readonly uid: number;
  readonly gid: number;
  /** Permission bits, including setuid/setgid/sticky. */
  readonly mode: number;
  /** Set when fakeroot faked a device node or fifo (on disk the file stays a plain file). */
  readonly device?: { readonly type: 'char' | 'block' | 'fifo'; readonly major: number; readonly minor: number };
}

/** Options for {@link runCustomisationScripts}. */
export interface CustomisationScriptOptions {
  /** bash run unprivileged in the layer directory before fakeRootCommands. @default '' */
  readonly extraCommands?: string;
  /** bash run under fakeroot; ownership, modes and device nodes it sets end up in the layer. @default '' */
  readonly fakeRootCommands?: string;
  /** Run fakeRootCommands under proot with the layer directory as `/` and the store visible. @default false */
  readonly enableFakechroot?: boolean;
  /** A chroot store to show at /nix/store inside the fakechroot. @default '' (the real store) */
  readonly storeRoot?: string;
  readonly signal?: AbortSignal;
}

/** What the scripts printed and the ownership fakeroot recorded, by path relative to the layer root (`/etc/passwd`). */
export interface CustomisationScriptResult {
  readonly output: string;
  readonly ownership: ReadonlyMap<string, PathOwnership>;
}

function requireTool(program: string, debianPackage: string, option: string): string {
  const found = which(program);
  if (!found) throw new CustomisationError('TOOL_MISSING', `${option} needs ${program}, which is not installed (Debian: apt-get install ${debianPackage})`);
  return found;
}

/**
 * Stops a script's whole process group: SIGINT first, as a terminal's Ctrl-C would (fakeroot traps
 * it and stops its faked daemon), then SIGKILL for a script that ignores it.
 */
function stopGroup(pid: number | undefined): () => void {
  const signalGroup = (sig: NodeJS.Signals) => {
    try {
      if (pid !== undefined) process.kill(-pid, sig);
    } catch {
      // The group has already gone.
    }
  };
  signalGroup('SIGINT');
  const timer = setTimeout(() => signalGroup('SIGKILL'), 3000);
  timer.unref();
  return () => clearTimeout(timer);
}

function runScript(what: string, argv: string[], cwd: string, script: string, signal?: AbortSignal): Promise<string> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    // A process group of its own, so an abort reaches every process the script started, however
    // strata itself was stopped (a terminal's Ctrl-C reaches the group, `kill PID` only strata).
    const child = spawn(argv[0]!, argv.slice(1), { cwd, env: { ...process.env, STRATA_SCRIPT: script }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let cancelKill: (() => void) | undefined;
    const onAbort = () => {
      cancelKill = stopGroup(child.pid);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    let output = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      output += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      output += c.toString();
      stderr += c.toString();
    });
    child.on('error', (error) => reject(new CustomisationError('TOOL_MISSING', `${what}: cannot run ${argv[0]}: ${error.message}`)));
    child.on('close', (code, sig) => {
      signal?.removeEventListener('abort', onAbort);
      cancelKill?.();
      // Settles only once the script has stopped, so the caller may remove its directory safely.
      if (signal?.aborted) return reject(signal.reason);
      if (code === 0) return resolve(output);
      const tail = stderr.length > 4000 ? `…${stderr.slice(-4000)}` : stderr;
      reject(new CustomisationError('SCRIPT_FAILED', `${what} failed (${sig ? `signal ${sig}` : `exit ${code}`}):\n${tail.trimEnd()}`));
    });
  });
}

// The script is passed in the environment, never spliced into a command line, so quotes,
// parentheses and $ survive exactly (nixpkgs issue #34779).
const BASH_EVAL = ['-e', '-c', 'eval "$STRATA_SCRIPT"'];

function fakechrootArgv(root: string, stateDir: string, storeRoot: string, bash: string, fakeroot: string): string[] {
  const proot = requireTool('proot', 'proot', 'enableFakechroot');
  const loader = realpathSync('/lib64/ld-linux-x86-64.so.2');
  // Debian's tools are dynamically linked: show /usr and the ELF loader inside, but not /bin or
  // /lib, which the script may create itself. fakeroot is a /bin/sh script, so run it with sh.
  return [
    proot, '-r', root, '-w', '/',
    '-b', `${join(storeRoot, '/nix/store')}:/nix/store`, '-b', '/usr', '-b', `${loader}:/lib64/ld-linux-x86-64.so.2`,
    '-b', '/dev', '-b', '/proc', '-b', '/sys', '-b', `${stateDir}:/.strata-fakeroot`,
    '/usr/bin/sh', realpathSync(fakeroot), '-s', '/.strata-fakeroot/state', '--', bash, ...BASH_EVAL,
  ];
}

async function ownershipByPath(root: string, entries: readonly FakerootEntry[]): Promise<Map<string, PathOwnership>> {
  const byInode = new Map(entries.map((e) => [`${e.dev}:${e.ino}`, e]));
  const result = new Map<string, PathOwnership>();
  const visit = async (rel: string): Promise<void> => {
    const st = await lstat(join(root, rel));
    const entry = byInode.get(`${st.dev}:${st.ino}`);
    if (entry) result.set(rel || '/', toOwnership(entry));
    if (st.isDirectory()) for (const name of (await readdir(join(root, rel))).sort()) await visit(`${rel}/${name}`);
  };
  await visit('');
  return result;
}

function toOwnership(e: FakerootEntry): PathOwnership {
  const type = e.mode & 0o170000;
  const device = type === 0o020000 ? 'char' : type === 0o060000 ? 'block' : type === 0o010000 ? 'fifo' : undefined;
  return { uid: e.uid, gid: e.gid, mode: e.mode & 0o7777, ...(device ? { device: { type: device, ...splitDevice(e.rdev) } } : {}) };
}

/**
 * Runs nixpkgs' customisation scripts on a layer directory: extraCommands unprivileged, then
 * fakeRootCommands under fakeroot (optionally inside proot with the directory as `/`), and returns
 * the ownership fakeroot recorded, read from its saved state, so it can be applied to the layer's tar
 * entries although the files on disk never change owner.
 *
 * Limitation: Debian's proot 5.1 does not translate `statx`, so `stat`/`ls -l` fail inside
 * enableFakechroot scripts; creating, linking, chown, chmod and mknod work.
 */
export async function runCustomisationScripts(root: string, options: CustomisationScriptOptions = {}): Promise<CustomisationScriptResult> {
  let output = '';
  if (options.extraCommands) {
    const bash = requireTool('bash', 'bash', 'extraCommands');
    output += await runScript('extraCommands', [bash, ...BASH_EVAL], root, options.extraCommands, options.signal);
  }
  if (!options.fakeRootCommands) return { output, ownership: new Map() };
  const bash = requireTool('bash', 'bash', 'fakeRootCommands');
  const fakeroot = requireTool('fakeroot', 'fakeroot', 'fakeRootCommands');
  const stateDir = await mkdtemp(join(tmpdir(), 'strata-fakeroot-'));
  try {
    const argv = options.enableFakechroot
      ? fakechrootArgv(root, stateDir, options.storeRoot ?? '', bash, fakeroot)
      : [fakeroot, '-s', join(stateDir, 'state'), '--', bash, ...BASH_EVAL];
    output += await runScript('fakeRootCommands', argv, options.enableFakechroot ? stateDir : root, options.fakeRootCommands, options.signal);
    const state = await readFile(join(stateDir, 'state'), 'utf8').catch(() => '');
    return { output, ownership: await ownershipByPath(root, parseFakerootState(state)) };
  } finally {
    await rm(stateDir, { recursive: true, force: true });
  }
}
