import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import addFormats from 'ajv-formats';

const dir = join(import.meta.dirname, 'schemas');
const load = (name: string) => JSON.parse(readFileSync(join(dir, name), 'utf8')) as Record<string, unknown>;

function validator(main: string, extra: readonly string[]) {
  const ajv = new Ajv({ allErrors: true, strict: false });
  addFormats.default(ajv);
  // Formats the CycloneDX schema names that ajv-formats lacks; strata's documents use no field of these formats.
  ajv.addFormat('iri-reference', true);
  ajv.addFormat('idn-email', true);
  for (const name of extra) ajv.addSchema(load(name));
  return ajv.compile(load(main));
}

const spdx = validator('spdx-2.3.schema.json', []);
const cyclonedx = validator('bom-1.5.schema.json', ['spdx.schema.json', 'jsf-0.82.schema.json']);

function problems(errors: ErrorObject[] | null | undefined): string {
  return (errors ?? []).map((e) => `${e.instancePath || '(root)'} ${e.message}`).join('\n');
}

/** The official SPDX 2.3 JSON schema's complaints about `document` ('' when valid). */
export function spdxProblems(document: unknown): string {
  return spdx(document) ? '' : problems(spdx.errors);
}

/** The official CycloneDX 1.5 JSON schema's complaints about `document` ('' when valid). */
export function cycloneDxProblems(document: unknown): string {
  return cyclonedx(document) ? '' : problems(cyclonedx.errors);
}
