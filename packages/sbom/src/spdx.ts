import { documentParts, TOOL } from './_document.js';
import type { ImageContents } from './image-contents.js';

const IMAGE_ID = 'SPDXRef-Image';
const packageId = (hash: string) => `SPDXRef-StorePath-${hash}`;

/**
 * An SPDX 2.3 document (JSON) of an image: the image as the described package (its image ID as
 * checksum), each store path as a package (name and version as Nix's `parseDrvName` splits the
 * store name, the store path as `packageFileName`, the sha256 of its NAR serialisation, which is
 * Nix's `narHash`, as checksum), the image CONTAINS each, and each DEPENDS_ON the paths it refers
 * to. The bytes depend on the image alone: the creation time is the image's `created`, and the
 * document namespace is made of the image ID.
 * @example await writeFile('sbom.spdx.json', spdxDocument(await readImageContents(image)));
 */
export function spdxDocument(contents: ImageContents): Buffer {
  const { packages, image } = documentParts(contents);
  const byPath = new Map(packages.map((p) => [p.path, p]));
  const document = {
    spdxVersion: 'SPDX-2.3',
    dataLicense: 'CC0-1.0',
    SPDXID: 'SPDXRef-DOCUMENT',
    name: image.tag ? `${image.name}:${image.tag}` : image.name,
    documentNamespace: `https://strata.invalid/spdx/image/sha256/${image.idHex}`,
    creationInfo: { created: image.timestamp, creators: [`Tool: ${TOOL.name}-${TOOL.version}`] },
    packages: [
      {
        SPDXID: IMAGE_ID,
        name: image.name,
        ...(image.tag ? { versionInfo: image.tag } : {}),
        downloadLocation: 'NOASSERTION',
        filesAnalyzed: false,
        checksums: [{ algorithm: 'SHA256', checksumValue: image.idHex }],
        primaryPackagePurpose: 'CONTAINER',
        comment: `The container image; its checksum is the image ID (sha256 of its config). Platform ${formatPlatform(contents)}.`,
      },
      ...packages.map((p) => ({
        SPDXID: packageId(p.hash),
        name: p.name,
        ...(p.version ? { versionInfo: p.version } : {}),
        packageFileName: p.path,
        downloadLocation: 'NOASSERTION',
        filesAnalyzed: false,
        checksums: [{ algorithm: 'SHA256', checksumValue: p.narSha256 }],
        licenseConcluded: 'NOASSERTION',
        licenseDeclared: 'NOASSERTION',
        copyrightText: 'NOASSERTION',
        comment: `Nix store path; its checksum is the sha256 of its NAR serialisation (narHash ${p.narHash}).`,
      })),
    ],
    relationships: [
      { spdxElementId: 'SPDXRef-DOCUMENT', relationshipType: 'DESCRIBES', relatedSpdxElement: IMAGE_ID },
      ...packages.map((p) => ({ spdxElementId: IMAGE_ID, relationshipType: 'CONTAINS', relatedSpdxElement: packageId(p.hash) })),
      ...packages.flatMap((p) =>
        p.dependsOn.map((d) => ({ spdxElementId: packageId(p.hash), relationshipType: 'DEPENDS_ON', relatedSpdxElement: packageId(byPath.get(d)!.hash) })),
      ),
    ],
  };
  return Buffer.from(`${JSON.stringify(document, null, 2)}\n`);
}

function formatPlatform(contents: ImageContents): string {
  const p = contents.platform;
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;
}
