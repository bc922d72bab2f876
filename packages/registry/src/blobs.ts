import { Readable } from 'node:stream';
import type { HttpResponse } from './_http.js';
import { DigestCounter, digestAlgorithm, verifyDigest } from './digest.js';
import { RegistryError } from './errors.js';
import { abortReason, backoffDelay, DEFAULT_ATTEMPTS, isTransient, sleep } from './_retry.js';
import { repositoryScope } from './_scopes.js';
import type { RegistryTransport } from './_transport.js';
import type { Descriptor } from './media-types.js';

/** HEADs a blob: its size when the registry has it, undefined on 404. */
export async function headBlob(t: RegistryTransport, repository: string, digest: string, signal?: AbortSignal): Promise<number | undefined> {
  const { res } = await t.send({
    method: 'HEAD',
    url: `/v2/${repository}/blobs/${digest}`,
    scopes: [repositoryScope(repository, 'pull')],
    expect: [200, 404],
    ...(signal ? { signal } : {}),
  });
  await res.body?.cancel();
  return res.status === 200 ? Number(res.headers.get('content-length') ?? Number.NaN) : undefined;
}

/** Checks the reply to a ranged resume: 206 from the right offset, or a 200 whose first bytes we skip. */
function resumeOffset(res: HttpResponse, have: number, what: string): number {
  if (have === 0) return 0;
  if (res.status === 200) return have;
  const range = /^bytes (\d+)-/.exec(res.headers.get('content-range') ?? '');
  if (!range || Number(range[1]) !== have) {
    throw new RegistryError('INVALID_RESPONSE', `${what}: resumed at byte ${have} but Content-Range is ${JSON.stringify(res.headers.get('content-range'))}`);
  }
  return 0;
}

/** Bytes one attempt must move for a blob download to get a fresh retry budget. */
const HEADWAY = 1024 * 1024;

async function* streamVerified(t: RegistryTransport, repository: string, d: Descriptor, signal?: AbortSignal): AsyncGenerator<Buffer> {
  const what = `blob ${t.registry}/${repository}@${d.digest}`;
  const counter = new DigestCounter(digestAlgorithm(d.digest));
  const attempts = t.retryOptions.attempts ?? DEFAULT_ATTEMPTS;
  for (let attempt = 1; ; attempt++) {
    const { res } = await t.send({
      method: 'GET',
      url: `/v2/${repository}/blobs/${d.digest}`,
      headers: counter.size > 0 ? { range: `bytes=${counter.size}-` } : {},
      scopes: [repositoryScope(repository, 'pull')],
      expect: counter.size > 0 ? [200, 206] : [200],
      ...(signal ? { signal } : {}),
    });
    const length = res.headers.get('content-length');
    if (counter.size === 0 && length !== null && Number(length) !== d.size) {
      await res.body?.cancel();
      verifyDigest(what, { digest: d.digest, size: d.size }, { digest: 'unknown', size: Number(length) });
    }
    let skip = resumeOffset(res, counter.size, what);
    const before = counter.size;
    try {
      for await (const chunk of (res.body ?? []) as AsyncIterable<Uint8Array>) {
        let buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
        if (skip > 0) {
          const drop = Math.min(skip, buf.length);
          skip -= drop;
          buf = buf.subarray(drop);
          if (buf.length === 0) continue;
        }
        counter.update(buf);
        if (counter.size > d.size) verifyDigest(what, d, { digest: 'unknown', size: counter.size });
        yield buf;
      }
      break;
    } catch (error) {
      if (signal?.aborted) throw abortReason(signal);
      // A transfer that moved a real amount before it broke starts a fresh budget: it is making
      // headway. (Bounded: at most one fresh budget per MiB of the blob; a trickle never earns one.)
      if (counter.size - before >= HEADWAY) attempt = 1;
      if (!isTransient(error) || attempt >= attempts) {
        if (error instanceof RegistryError) throw error;
        throw new RegistryError('NETWORK', `GET ${t.base}/v2/${repository}/blobs/${d.digest}: the transfer broke after ${counter.size} bytes: ${(error as Error).message}`, { cause: error });
      }
      await sleep(backoffDelay(attempt, t.retryOptions), signal);
    }
  }
  // A truncated body ends "cleanly" on some servers: the size and digest checks catch it here.
  verifyDigest(what, d, { digest: counter.digest(), size: counter.size });
}

/**
 * Streams a blob, verifying size and digest: the stream errors with SIZE_MISMATCH or DIGEST_MISMATCH
 * at the end instead of finishing, so a pipeline writing it fails. A broken transfer resumes with
 * `Range` from the byte it reached.
 */
export function fetchBlob(t: RegistryTransport, repository: string, descriptor: Descriptor, signal?: AbortSignal): Readable {
  return Readable.from(streamVerified(t, repository, descriptor, signal), { objectMode: false });
}
