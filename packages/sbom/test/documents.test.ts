import { describe, expect, it } from 'vitest';
import type { ImageContents } from '../src/image-contents.js';
import { cycloneDxDocument } from '../src/cyclonedx.js';
import { spdxDocument } from '../src/spdx.js';
import { cycloneDxProblems, spdxProblems } from './_schemas.js';

const hash = (c: string) => `sha256-${Buffer.alloc(32, c).toString('base64')}`;
const LIB = '/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-glibc-2.39-52';
const APP = '/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-hello-2.12.1';
const DATA = '/nix/store/cccccccccccccccccccccccccccccccc-greeting';

const contents: ImageContents = {
  imageId: `sha256:${'d'.repeat(64)}`,
  created: '2024-05-06T07:08:09.123Z',
  platform: { os: 'linux', architecture: 'arm64', variant: 'v8' },
  repoTags: ['127.0.0.1:5000/team/hello:1.0'],
  storePaths: [
    { path: LIB, narSize: 8, narHash: hash('l'), references: [LIB] },
    { path: APP, narSize: 8, narHash: hash('a'), references: [APP, DATA, LIB] },
    { path: DATA, narSize: 8, narHash: hash('d'), references: [] },
  ],
};

describe('spdxDocument', () => {
  const document = JSON.parse(spdxDocument(contents).toString('utf8'));

  it('is valid against the official SPDX 2.3 JSON schema', () => {
    expect(spdxProblems(document)).toBe('');
  });

  it('lists every store path as a package with its parsed name, version, path and NAR hash', () => {
    const app = document.packages.find((p: { packageFileName?: string }) => p.packageFileName === APP);
    expect(app).toMatchObject({ name: 'hello', versionInfo: '2.12.1', checksums: [{ algorithm: 'SHA256', checksumValue: Buffer.alloc(32, 'a').toString('hex') }] });
    const data = document.packages.find((p: { packageFileName?: string }) => p.packageFileName === DATA);
    expect(data.name).toBe('greeting');
    expect(data).not.toHaveProperty('versionInfo');
    expect(document.packages).toHaveLength(4);
  });

  it('records containment and dependencies without self-references, at fixed times and a namespace from the image ID', () => {
    const deps = document.relationships.filter((r: { relationshipType: string }) => r.relationshipType === 'DEPENDS_ON');
    expect(deps).toEqual([
      { spdxElementId: 'SPDXRef-StorePath-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb', relationshipType: 'DEPENDS_ON', relatedSpdxElement: 'SPDXRef-StorePath-cccccccccccccccccccccccccccccccc' },
      { spdxElementId: 'SPDXRef-StorePath-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb', relationshipType: 'DEPENDS_ON', relatedSpdxElement: 'SPDXRef-StorePath-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' },
    ].sort((a, b) => (a.relatedSpdxElement < b.relatedSpdxElement ? -1 : 1)));
    expect(document.relationships.filter((r: { relationshipType: string }) => r.relationshipType === 'CONTAINS')).toHaveLength(3);
    expect(document.creationInfo.created).toBe('2024-05-06T07:08:09Z');
    expect(document.documentNamespace).toContain('d'.repeat(64));
    expect(document.name).toBe('127.0.0.1:5000/team/hello:1.0');
  });

  it('gives the same bytes for the same image, and others for another', () => {
    expect(spdxDocument(contents).equals(spdxDocument({ ...contents }))).toBe(true);
    expect(spdxDocument({ ...contents, imageId: `sha256:${'e'.repeat(64)}` }).equals(spdxDocument(contents))).toBe(false);
  });
});

describe('cycloneDxDocument', () => {
  const bom = JSON.parse(cycloneDxDocument(contents).toString('utf8'));

  it('is valid against the official CycloneDX 1.5 JSON schema', () => {
    expect(cycloneDxProblems(bom)).toBe('');
  });

  it('lists every store path as a component and the reference graph as dependencies', () => {
    expect(bom.components.map((c: { 'bom-ref': string }) => c['bom-ref'])).toEqual([LIB, APP, DATA].sort());
    expect(bom.components.find((c: { 'bom-ref': string }) => c['bom-ref'] === LIB)).toMatchObject({ name: 'glibc', version: '2.39-52' });
    expect(bom.dependencies).toContainEqual({ ref: APP, dependsOn: [LIB, DATA] });
    expect(bom.dependencies).toContainEqual({ ref: LIB, dependsOn: [] });
    // The image depends on what nothing else in it refers to.
    expect(bom.dependencies).toContainEqual({ ref: 'image', dependsOn: [APP] });
    expect(bom.metadata.component).toMatchObject({ type: 'container', name: '127.0.0.1:5000/team/hello', version: '1.0' });
  });

  it('has a serial number and timestamp made from the image alone', () => {
    expect(bom.serialNumber).toMatch(/^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(cycloneDxDocument(contents).equals(cycloneDxDocument({ ...contents }))).toBe(true);
    const other = JSON.parse(cycloneDxDocument({ ...contents, imageId: `sha256:${'e'.repeat(64)}` }).toString('utf8'));
    expect(other.serialNumber).not.toBe(bom.serialNumber);
    expect(bom.metadata.timestamp).toBe('2024-05-06T07:08:09Z');
  });
});
