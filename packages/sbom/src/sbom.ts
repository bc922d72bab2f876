import type { Image } from '@strata/image';
import { cycloneDxDocument } from './cyclonedx.js';
import { SbomError } from './errors.js';
import { type ImageContents, readImageContents, type ReadImageContentsOptions } from './image-contents.js';
import { spdxDocument } from './spdx.js';

/** The SBOM formats strata writes. */
export type SbomFormat = 'spdx-json' | 'cyclonedx-json';

/** The formats, in the order `--help` lists them. */
export const SBOM_FORMATS: readonly SbomFormat[] = ['spdx-json', 'cyclonedx-json'];

/** Each format's media type (the artifact type of an attached SBOM). */
export const SBOM_MEDIA_TYPES: Readonly<Record<SbomFormat, string>> = {
  'spdx-json': 'application/spdx+json',
  'cyclonedx-json': 'application/vnd.cyclonedx+json',
};

/** An SBOM made by {@link createSbom}. */
export interface Sbom {
  readonly format: SbomFormat;
  readonly mediaType: string;
  readonly bytes: Buffer;
  /** What the SBOM describes (image ID, created, store paths). */
  readonly contents: ImageContents;
}

/** The document of `contents` in `format`. */
export function sbomDocument(contents: ImageContents, format: SbomFormat): Buffer {
  if (format === 'spdx-json') return spdxDocument(contents);
  if (format === 'cyclonedx-json') return cycloneDxDocument(contents);
  throw new SbomError('INVALID_OPTION', `format ${JSON.stringify(format)}: expected one of ${SBOM_FORMATS.join(', ')}`);
}

/**
 * The SBOM of an image: reads its layers once (see {@link readImageContents}) and writes the
 * document. Same image, same bytes.
 * @example
 * const sbom = await createSbom(await readImage('hello.tar'), 'spdx-json');
 * await writeFile('hello.spdx.json', sbom.bytes);
 */
export async function createSbom(image: Image, format: SbomFormat, options: ReadImageContentsOptions = {}): Promise<Sbom> {
  if (!SBOM_FORMATS.includes(format)) throw new SbomError('INVALID_OPTION', `format ${JSON.stringify(format)}: expected one of ${SBOM_FORMATS.join(', ')}`);
  const contents = await readImageContents(image, options);
  return { format, mediaType: SBOM_MEDIA_TYPES[format], bytes: sbomDocument(contents, format), contents };
}
