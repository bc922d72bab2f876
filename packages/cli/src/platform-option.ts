import { parsePlatform, type Platform, RegistryError } from '@strata/registry';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { CliError } from './errors.js';

/** `--platform os/arch[/variant]`, parsed; a malformed value is a usage error. */
export function platformOption(description: string): Option {
  return new Option('--platform <os/arch[/variant]>', description).argParser((value: string): Platform => {
    try {
      return parsePlatform(value);
    } catch (error) {
      if (error instanceof RegistryError) throw new InvalidArgumentError('expected os/arch[/variant], e.g. linux/arm64 or linux/arm/v7');
      throw error;
    }
  });
}

/**
 * The platform of a command that has both `--platform` and podman's `--os`/`--arch`/`--variant`:
 * `--platform` when given (and then none of the others may be), else the three (their defaults included).
 */
export function chosenPlatform(command: Command, flags: { platform?: Platform; os: string; arch: string; variant?: string }): Platform {
  if (flags.platform) {
    const given = ['os', 'arch', 'variant'].filter((name) => command.getOptionValueSource(name) === 'cli');
    if (given.length > 0) throw new CliError(`--platform: give either --platform or ${given.map((n) => `--${n}`).join(', ')}, not both`, 'USAGE');
    return flags.platform;
  }
  return { os: flags.os, architecture: flags.arch, ...(flags.variant ? { variant: flags.variant } : {}) };
}
