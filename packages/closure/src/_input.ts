import type * as z from 'zod';
import { ClosureError } from './errors.js';
import { readInputText } from './input-file.js';

/** Formats the first zod issue as `where.field[0]: message`. */
export function describeZodIssue(error: z.ZodError, where: string): string {
  const issue = error.issues[0];
  if (!issue) return `${where}: invalid`;
  const field = issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('');
  return `${where}${field}: ${issue.message}`;
}

/**
 * Parses untrusted JSON text with the schema chosen for its shape (array or object), so that an
 * error names the real field rather than "invalid union". Throws MALFORMED naming `where`.
 */
export function parseJsonInput<A, O>(text: string, where: string, arraySchema: z.ZodType<A>, objectSchema: z.ZodType<O>): A | O {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ClosureError('MALFORMED', `${where}: not valid JSON (${(error as Error).message})`);
  }
  const parsed = Array.isArray(json) ? arraySchema.safeParse(json) : objectSchema.safeParse(json);
  if (!parsed.success) throw new ClosureError('MALFORMED', describeZodIssue(parsed.error, where));
  return parsed.data;
}

/** Larger graph or registration files are refused: a 30k-path closure's graph is tens of MiB. */
const MAX_INPUT_BYTES = 128 << 20;

/**
 * Reads a text file the user named, throwing NOT_FOUND (cannot open) or MALFORMED (a directory, a
 * device, or more than 128 MiB) with the file and what it was for.
 */
export async function readInputFile(file: string, what: string): Promise<string> {
  try {
    return await readInputText(file, MAX_INPUT_BYTES);
  } catch (error) {
    const system = typeof (error as NodeJS.ErrnoException).code === 'string';
    if (system) throw new ClosureError('NOT_FOUND', `cannot read ${what} ${file}: ${(error as Error).message}`, { cause: error });
    throw new ClosureError('MALFORMED', `${what} ${file}: ${(error as Error).message}`, { cause: error });
  }
}
