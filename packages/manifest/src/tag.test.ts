import { describe, expect, it } from 'vitest';
import { ManifestError } from './errors.js';
import { repoTag } from './tag.js';

describe('repoTag names', () => {
  it('refuses names outside the reference grammar, showing the rule', () => {
    for (const name of ['Eco X', '../../etc/x', 'app\nx', 'app/', '/app', 'a//b', 'app-', '_app', 'a:b', 'x'.repeat(256), 'host:port/app']) {
      const error = (() => {
        try {
          repoTag(name, 'v1');
        } catch (e) {
          return e;
        }
      })();
      expect(error, name).toBeInstanceOf(ManifestError);
      expect((error as ManifestError).code).toBe('INVALID_OPTION');
      expect((error as ManifestError).message).toMatch(/^name: ".*" is not a valid image name: /);
    }
    expect(() => repoTag('Eco X', 'v1')).toThrow('name: "Eco X" is not a valid image name: lower-case letters and digits, joined by ".", "_", "__" or "-"');
    expect(() => repoTag('app\nx', 'v1')).toThrow('name: "app\\nx"');
  });

  it('keeps names nixpkgs accepts: lower-cased, with a registry host, port or IPv6 address', () => {
    expect(repoTag('My-App', 'v1')).toBe('my-app:v1');
    expect(repoTag('registry-1.docker.io/image', 'v1')).toBe('registry-1.docker.io/image:v1');
    expect(repoTag('localhost:5000/x', 'v1')).toBe('localhost:5000/x:v1');
    expect(repoTag('[::1]:5000/team/app', 'v1')).toBe('[::1]:5000/team/app:v1');
    expect(repoTag('a__b.c_d--e/f', 'v1')).toBe('a__b.c_d--e/f:v1');
  });
});
