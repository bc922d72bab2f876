import type { FoundCredential, RegistryClientOptions } from '@strata/registry';
import { type Command, InvalidArgumentError } from 'commander';
import type { CommandContext } from './context.js';
import { CliError } from './errors.js';

/** The flags every registry command (push, pull) shares, as commander parses them. */
export interface RegistryFlags {
  readonly tlsVerify: boolean;
  readonly authfile?: string;
  readonly creds?: string;
  readonly connectTimeout?: number;
  readonly idleTimeout?: number;
  readonly retryTimes?: number;
  readonly retryDelay?: number;
}

/** Seconds on the command line, in milliseconds. */
function seconds(value: string): number {
  if (!/^\d+(\.\d+)?$/.test(value) || Number(value) <= 0) throw new InvalidArgumentError('expected a number of seconds above 0');
  return Math.round(Number(value) * 1000);
}

function count(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('expected a whole number');
  return Number(value);
}

/**
 * Adds the credential and timeout flags of the registry commands to `command` (podman's and
 * skopeo's names where they have one).
 */
export function addRegistryOptions(command: Command): Command {
  return command
    .option(
      '--authfile <file>',
      'the only auth file to read (default: $REGISTRY_AUTH_FILE, else $XDG_RUNTIME_DIR/containers/auth.json, ~/.config/containers/auth.json, $DOCKER_AUTH_CONFIG, ~/.docker/config.json)',
    )
    .option('--creds <user[:password]>', 'credentials to use instead of an auth file; without :password it is asked for on the terminal')
    .option('--connect-timeout <seconds>', 'give up on a request the registry has not started to answer after this long (default: 30)', seconds)
    .option('--idle-timeout <seconds>', 'give up on a transfer that moves less than 1 KiB in this long (default: 60)', seconds)
    .option('--retry-times <n>', 'retries of a request that failed on the network, a timeout, 429 or 5xx (default: 3)', count)
    .option('--retry-delay <seconds>', 'the wait before the first retry; each next one waits 3 times longer, at most 10 s (default: 1)', seconds);
}

/** Reads a password from the terminal without echoing it. */
async function askPassword(user: string, context: CommandContext): Promise<string> {
  const input = process.stdin;
  if (!input.isTTY) throw new CliError('--creds: no password given and no terminal to ask for one (use --creds USER:PASSWORD)', 'USAGE');
  context.stderr.write(`Password for ${user}: `);
  input.setRawMode(true);
  input.resume();
  let password = '';
  try {
    for await (const chunk of input) {
      for (const ch of (chunk as Buffer).toString('utf8')) {
        if (ch === '\r' || ch === '\n') return password;
        if (ch === '\u0003') throw new DOMException('interrupted', 'AbortError');
        password = ch === '\u007f' ? password.slice(0, -1) : password + ch;
      }
    }
    return password;
  } finally {
    input.setRawMode(false);
    input.pause();
    context.stderr.write('\n');
  }
}

/**
 * `--creds USER[:PASSWORD]` as a credential lookup named `--creds` in messages. It runs when the
 * registry first asks for credentials, so the password prompt comes only when needed and a bad
 * value fails inside the command (whose cleanup then runs); it is a usage error (exit 2).
 */
function credsOption(value: string, context: CommandContext): () => Promise<FoundCredential> {
  let found: Promise<FoundCredential> | undefined;
  return () => {
    found ??= (async () => {
      const colon = value.indexOf(':');
      const username = colon === -1 ? value : value.slice(0, colon);
      // Never quote the value: it holds the password.
      if (!username) throw new CliError('--creds: the user name is empty (expected USER[:PASSWORD])', 'USAGE');
      const password = colon === -1 ? await askPassword(username, context) : value.slice(colon + 1);
      return { credential: { kind: 'basic', username, password }, source: '--creds' };
    })();
    return found;
  };
}

/** The registry client options the shared flags ask for. */
export function registryOptions(flags: RegistryFlags, context: CommandContext): RegistryClientOptions {
  return {
    insecure: !flags.tlsVerify,
    connectTimeoutMs: flags.connectTimeout ?? 30_000,
    idleTimeoutMs: flags.idleTimeout ?? 60_000,
    retry: { ...(flags.retryTimes !== undefined ? { attempts: flags.retryTimes + 1 } : {}), ...(flags.retryDelay !== undefined ? { delayMs: flags.retryDelay } : {}) },
    ...(flags.creds !== undefined ? { credential: credsOption(flags.creds, context) } : {}),
    ...(flags.authfile !== undefined ? { authFile: flags.authfile } : {}),
  };
}
