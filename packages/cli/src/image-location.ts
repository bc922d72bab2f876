import { lstat, open } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseReference, type Reference, RegistryError } from '@strata/registry';
import { CliError } from './errors.js';

/**
 * Where an image is or goes, as `inspect`, `copy`, `sbom` and `push-index` name it: skopeo's
 * transports (`docker://REF`, `docker-archive:PATH[:NAME[:TAG]]`, `oci:DIR[:REF]`,
 * `oci-archive:PATH[:REF]`) or a bare name, which is a file when it exists (an archive, an OCI
 * layout directory, a spec), a registry reference when its first component is a host (has `.` or
 * `:`, or is `localhost`), else a file.
 */
export type ImageLocation =
  | { readonly kind: 'registry'; readonly reference: Reference; readonly text: string }
  | { readonly kind: 'docker-archive'; readonly path: string; readonly name?: string; readonly text: string }
  | { readonly kind: 'oci' | 'oci-archive'; readonly path: string; readonly name?: string; readonly text: string }
  | { readonly kind: 'spec'; readonly path: string; readonly text: string };

function reference(value: string, text: string): ImageLocation {
  try {
    return { kind: 'registry', reference: parseReference(value), text };
  } catch (error) {
    if (error instanceof RegistryError) throw new CliError(error.message, 'USAGE');
    throw error;
  }
}

/** `PATH[:REF]`: the part after the last colon is a name when it is not part of the path (skopeo's rule: paths with colons need a ref). */
function pathAndName(rest: string): { path: string; name?: string } {
  const colon = rest.indexOf(':');
  if (colon === -1) return { path: resolve(rest) };
  const name = rest.slice(colon + 1);
  return { path: resolve(rest.slice(0, colon)), ...(name ? { name } : {}) };
}

function looksLikeRegistry(value: string): boolean {
  const slash = value.indexOf('/');
  if (slash === -1) return false;
  const first = value.slice(0, slash);
  return first.includes('.') || first.includes(':') || first === 'localhost';
}

/** What a file on disk holds: an OCI layout directory, a spec (JSON), an OCI archive or a docker-archive. */
async function fileKind(path: string): Promise<'oci' | 'spec' | 'oci-archive' | 'docker-archive'> {
  const st = await lstat(path);
  if (st.isDirectory()) return 'oci';
  const handle = await open(path, 'r');
  try {
    const head = Buffer.alloc(512);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    const text = head.subarray(0, bytesRead);
    if (text.toString('utf8').trimStart().startsWith('{')) return 'spec';
    // An OCI archive starts with its `oci-layout` member, as strata, skopeo and buildah write it.
    const first = text.subarray(0, 100).toString('latin1').replace(/\0.*$/s, '');
    return first === 'oci-layout' || first === './oci-layout' ? 'oci-archive' : 'docker-archive';
  } finally {
    await handle.close();
  }
}

/**
 * Parses a source or destination. `mustExist` (sources) makes a bare name that is neither an
 * existing file nor a registry reference an input error naming it.
 */
export async function parseImageLocation(text: string, options: { readonly mustExist: boolean }): Promise<ImageLocation> {
  const prefixed = /^(docker|docker-archive|oci|oci-archive):(.*)$/s.exec(text);
  if (prefixed) {
    const [, transport, rest = ''] = prefixed;
    if (transport === 'docker') {
      if (!rest.startsWith('//')) throw new CliError(`${text}: expected docker://REGISTRY/REPOSITORY[:TAG|@DIGEST]`, 'USAGE');
      return reference(rest.slice(2), text);
    }
    if (rest === '') throw new CliError(`${text}: no path after ${transport}:`, 'USAGE');
    return { kind: transport as 'docker-archive' | 'oci' | 'oci-archive', ...pathAndName(rest), text };
  }
  const path = resolve(text);
  const exists = await lstat(path).then(
    () => true,
    () => false,
  );
  if (exists) {
    const kind = await fileKind(path);
    return { kind, path, text } as ImageLocation;
  }
  if (looksLikeRegistry(text)) return reference(text, text);
  if (options.mustExist) throw new CliError(`${text}: no such file, and not a registry reference (REGISTRY/REPOSITORY[:TAG], or docker://…)`);
  return { kind: 'docker-archive', path, text };
}
