export { SbomError, type SbomErrorCode } from './errors.js';
export { type DrvName, parseDrvName } from './drv-name.js';
export { type ImageContents, readImageContents, type ReadImageContentsOptions } from './image-contents.js';
export { spdxDocument } from './spdx.js';
export { cycloneDxDocument } from './cyclonedx.js';
export { createSbom, SBOM_FORMATS, SBOM_MEDIA_TYPES, type Sbom, sbomDocument, type SbomFormat } from './sbom.js';
