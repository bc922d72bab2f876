import { readInputText } from '@strata/closure';
import { CliError } from './errors.js';

/**
 * Reads and parses a JSON file named by `flag`: a regular file or a pipe, at most `maxBytes`
 * (16 MiB unless said); an unreadable or oversized file, or bad JSON, is a {@link CliError} naming both.
 */
export async function readJson(file: string, flag: string, maxBytes?: number): Promise<unknown> {
  let text: string;
  try {
    text = await readInputText(file, maxBytes);
  } catch (error) {
    throw new CliError(`${flag} ${file}: ${(error as Error).message}`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new CliError(`${flag} ${file}: invalid JSON: ${(error as Error).message}`);
  }
}
