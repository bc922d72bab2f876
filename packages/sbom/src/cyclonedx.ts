import { documentParts, TOOL, uuidV5 } from './_document.js';
import type { ImageContents } from './image-contents.js';

const IMAGE_REF = 'image';

/**
 * A CycloneDX 1.5 BOM (JSON) of an image: the image as `metadata.component` (a container, its
 * image ID as hash), each store path as a component (name and version as Nix's `parseDrvName`
 * splits the store name, the store path as `bom-ref` and as the `nix:store-path` property, the
 * sha256 of its NAR serialisation, which is Nix's `narHash`, as hash), and the dependency graph
 * from the references (the image depends on the paths no other path refers to). The bytes depend
 * on the image alone: the timestamp is the image's `created`, the serial number a name-based UUID
 * of the image ID.
 * @example await writeFile('sbom.cdx.json', cycloneDxDocument(await readImageContents(image)));
 */
export function cycloneDxDocument(contents: ImageContents): Buffer {
  const { packages, image } = documentParts(contents);
  const platform = contents.platform;
  const bom = {
    bomFormat: 'CycloneDX',
    specVersion: '1.5',
    serialNumber: `urn:uuid:${uuidV5(`urn:strata:image:sha256:${image.idHex}:cyclonedx`)}`,
    version: 1,
    metadata: {
      timestamp: image.timestamp,
      tools: { components: [{ type: 'application', name: TOOL.name, version: TOOL.version }] },
      component: {
        type: 'container',
        'bom-ref': IMAGE_REF,
        name: image.name,
        ...(image.tag ? { version: image.tag } : {}),
        hashes: [{ alg: 'SHA-256', content: image.idHex }],
        properties: [
          { name: 'oci:image-id', value: `sha256:${image.idHex}` },
          { name: 'oci:platform', value: `${platform.os}/${platform.architecture}${platform.variant ? `/${platform.variant}` : ''}` },
        ],
      },
    },
    components: packages.map((p) => ({
      type: 'library',
      'bom-ref': p.path,
      name: p.name,
      ...(p.version ? { version: p.version } : {}),
      hashes: [{ alg: 'SHA-256', content: p.narSha256 }],
      properties: [
        { name: 'nix:store-path', value: p.path },
        { name: 'nix:nar-hash', value: p.narHash },
      ],
    })),
    dependencies: [{ ref: IMAGE_REF, dependsOn: image.roots }, ...packages.map((p) => ({ ref: p.path, dependsOn: p.dependsOn }))],
  };
  return Buffer.from(`${JSON.stringify(bom, null, 2)}\n`);
}
