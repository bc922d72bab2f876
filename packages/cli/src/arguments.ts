// Parsers of command-line values shared by several commands. Kept apart from any command, so
// importing one never loads another command's libraries.
import { parseReference, type Reference, RegistryError } from '@strata/registry';
import { InvalidArgumentError } from 'commander';
import { CliError } from './errors.js';

/** Parses `--tls-verify false` style values. */
export function parseBoolean(value: string): boolean {
  if (/^(true|1|yes)$/i.test(value)) return true;
  if (/^(false|0|no)$/i.test(value)) return false;
  throw new InvalidArgumentError('expected true or false');
}

/** A registry reference from the command line; a bad one is a usage error (exit 2). */
export function referenceArgument(value: string): Reference {
  try {
    return parseReference(value);
  } catch (error) {
    if (error instanceof RegistryError) throw new CliError(error.message, 'USAGE');
    throw error;
  }
}
