import { describe, expect, it } from 'vitest';
import { createImageConfig, mergeEnv, normalizeCreated, parseContainerConfig, serializeImageConfig } from './config.js';
import { ManifestError } from './errors.js';
import { imageTag, repoTag } from './tag.js';

describe('parseContainerConfig', () => {
  it('accepts every Docker config key', () => {
    const config = {
      User: '1000:1000',
      ExposedPorts: { '80/tcp': {} },
      Env: ['A=1'],
      Entrypoint: ['/bin/sh'],
      Cmd: ['-c', 'echo'],
      Volumes: { '/data': {} },
      WorkingDir: '/work',
      Labels: { a: 'b' },
      StopSignal: 'SIGTERM',
      Healthcheck: { Test: ['CMD', 'true'], Interval: 1_000_000_000, Retries: 3 },
      ArgsEscaped: true,
      OnBuild: null,
      Shell: ['/bin/sh', '-c'],
    };
    expect(parseContainerConfig(config)).toEqual(config);
  });

  it('rejects an unknown key, naming it', () => {
    const error = (() => {
      try {
        parseContainerConfig({ Cmd: ['x'], Entrypiont: ['typo'] }, 'spec.config');
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(ManifestError);
    expect((error as ManifestError).code).toBe('INVALID_CONFIG');
    expect((error as ManifestError).message).toBe('spec.config: unknown key "Entrypiont"');
  });

  it('takes Cmd and Entrypoint as one string, as Docker reads them: a one-element list', () => {
    // Docker's strslice turns a JSON string into [string]; podman reads only lists, so the list is written.
    expect(parseContainerConfig({ Cmd: 'hello', Entrypoint: '/bin/sh' })).toEqual({ Cmd: ['hello'], Entrypoint: ['/bin/sh'] });
    expect(parseContainerConfig({ Cmd: null })).toEqual({ Cmd: null });
    expect(() => parseContainerConfig({ Cmd: 3 })).toThrow(/^config\.Cmd: /);
  });

  it('names the field of a wrong type, nested keys included', () => {
    expect(() => parseContainerConfig({ Env: 'A=1' })).toThrow(/^config\.Env: /);
    expect(() => parseContainerConfig({ Healthcheck: { Test: ['CMD'], Every: 1 } })).toThrow('config.Healthcheck: unknown key "Every"');
    expect(() => parseContainerConfig({ ExposedPorts: { '80/tcp': { x: 1 } } })).toThrow('config.ExposedPorts.80/tcp: unknown key "x"');
  });
});

describe('createImageConfig', () => {
  it('writes created, architecture, os, config, rootfs and one history entry per layer, in that order', () => {
    const config = createImageConfig(['sha256:aa', 'sha256:bb'], { architecture: 'arm64', config: { Cmd: ['/hello'] }, comments: ['store paths: [a]', 'store paths: [b]'] });
    expect(serializeImageConfig(config).toString()).toBe(
      '{"created":"1970-01-01T00:00:01Z","architecture":"arm64","os":"linux","config":{"Cmd":["/hello"]},' +
        '"rootfs":{"type":"layers","diff_ids":["sha256:aa","sha256:bb"]},' +
        '"history":[{"created":"1970-01-01T00:00:01Z","comment":"store paths: [a]"},{"created":"1970-01-01T00:00:01Z","comment":"store paths: [b]"}]}',
    );
  });

  it('defaults to the host architecture in GOARCH terms', () => {
    const expected = process.arch === 'x64' ? 'amd64' : process.arch;
    expect(createImageConfig([]).architecture).toBe(expected);
  });

  it('turns "now" into the current time and rejects dates it cannot parse', () => {
    const now = Date.parse(normalizeCreated('now'));
    expect(Math.abs(now - Date.now())).toBeLessThan(5000);
    expect(normalizeCreated('2024-05-01T10:00:00+02:00')).toBe('2024-05-01T08:00:00Z');
    expect(() => normalizeCreated('yesterday')).toThrow('created: not an ISO-8601 date or "now": yesterday');
  });
});

describe('mergeEnv', () => {
  it('keeps the first position and the last value of each variable', () => {
    expect(mergeEnv(['PATH=/bin', 'LAST_LAYER=base', 'FROM_PARENT=true'], ['LAST_LAYER=child', 'FROM_CHILD=true'])).toEqual([
      'PATH=/bin',
      'LAST_LAYER=child',
      'FROM_PARENT=true',
      'FROM_CHILD=true',
    ]);
  });
});

describe('imageTag and repoTag', () => {
  it('hashes inputs independently of key order, and changes when an input does', () => {
    const a = imageTag({ name: 'x', layers: [['/nix/store/a']], config: { Cmd: ['a'], Env: [] } });
    expect(a).toMatch(/^[0-9a-f]{32}$/);
    expect(imageTag({ config: { Env: [], Cmd: ['a'] }, layers: [['/nix/store/a']], name: 'x' })).toBe(a);
    expect(imageTag({ name: 'x', layers: [['/nix/store/b']], config: { Cmd: ['a'], Env: [] } })).not.toBe(a);
  });

  it('lower-cases the name as nixpkgs does and validates the tag', () => {
    expect(repoTag('Registry-1.docker.io/Layered-Image', 'V1')).toBe('registry-1.docker.io/layered-image:V1');
    expect(() => repoTag('x', 'bad tag')).toThrow('tag: "bad tag" is not a valid tag');
  });
});
