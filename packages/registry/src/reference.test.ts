import { describe, expect, it } from 'vitest';
import { formatReference, parseReference, registryScheme } from './reference.js';

const digest = `sha256:${'a'.repeat(64)}`;

describe('parseReference', () => {
  it.each([
    ['redis', { registry: 'docker.io', repository: 'library/redis', tag: 'latest' }],
    ['docker.io/redis:7', { registry: 'docker.io', repository: 'library/redis', tag: '7' }],
    ['index.docker.io/org/app', { registry: 'docker.io', repository: 'org/app', tag: 'latest' }],
    ['org/app:v1.2', { registry: 'docker.io', repository: 'org/app', tag: 'v1.2' }],
    ['localhost/app', { registry: 'localhost', repository: 'app', tag: 'latest' }],
    ['localhost:5000/a/b/c:t', { registry: 'localhost:5000', repository: 'a/b/c', tag: 't' }],
    ['127.0.0.1:5555/app@' + digest, { registry: '127.0.0.1:5555', repository: 'app', digest }],
    ['ghcr.io/org/app:1@' + digest, { registry: 'ghcr.io', repository: 'org/app', tag: '1', digest }],
    ['[::1]:5000/app', { registry: '[::1]:5000', repository: 'app', tag: 'latest' }],
    ['my-registry.example.com/a__b/c-d.e', { registry: 'my-registry.example.com', repository: 'a__b/c-d.e', tag: 'latest' }],
  ])('%s', (input, expected) => {
    expect(parseReference(input)).toEqual(expected);
  });

  it('treats a first component without dot, colon or localhost as a Hub namespace', () => {
    expect(parseReference('myhost/app')).toEqual({ registry: 'docker.io', repository: 'myhost/app', tag: 'latest' });
    // Uppercase hosts are not registries (newer distribution/reference); the name is then invalid.
    expect(() => parseReference('Example.com/app')).toThrow(/repository "Example.com\/app" must be lowercase/);
  });

  it.each([
    ['app:bad tag', /tag "bad tag"/],
    ['App', /repository "library\/App"/],
    ['app@sha256:abc', /sha256 digest must be 64/],
    ['app@nodigest', /is not algorithm:hex/],
    [`r.io/${'a'.repeat(260)}`, /longer than 255/],
    [':tag', /repository name is empty/],
  ])('rejects %s naming the part at fault', (input, message) => {
    expect(() => parseReference(input)).toThrow(message);
    try {
      parseReference(input);
    } catch (error) {
      expect(error).toMatchObject({ code: 'INVALID_REFERENCE' });
    }
  });

  it('formats back, keeping tag and digest', () => {
    expect(formatReference(parseReference(`ghcr.io/org/app:1@${digest}`))).toBe(`ghcr.io/org/app:1@${digest}`);
  });
});

describe('registryScheme', () => {
  it('uses http only for loopback or when asked', () => {
    expect(registryScheme('127.0.0.1:5000')).toBe('http');
    expect(registryScheme('localhost:5000')).toBe('http');
    expect(registryScheme('build.localhost')).toBe('http');
    expect(registryScheme('[::1]:5000')).toBe('http');
    expect(registryScheme('192.168.1.5:5000')).toBe('https');
    expect(registryScheme('192.168.1.5:5000', true)).toBe('http');
    expect(registryScheme('ghcr.io')).toBe('https');
  });
});
