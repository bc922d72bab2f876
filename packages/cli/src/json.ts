import { readFile } from 'node:fs/promises';
import { CliError } from './errors.js';

/** Reads and parses a JSON file named by `flag`; an unreadable file or bad JSON is a {@link CliError} naming both. */
export async function readJson(file: string, flag: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new CliError(`${flag} ${file}: ${(error as Error).message}`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new CliError(`${flag} ${file}: invalid JSON: ${(error as Error).message}`);
  }
}
