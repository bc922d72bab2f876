import type { HttpResponse } from './_http.js';
import { RegistryError, RegistryHttpError, SPEC_ERROR_CODES, type SpecErrorCode, type SpecErrorDetail } from './errors.js';

/** A URL for messages: no query (upload state, signatures) and no user info. */
export function displayUrl(url: string | URL): string {
  const u = new URL(url);
  return `${u.protocol}//${u.host}${u.pathname}`;
}

/** Reads at most `limit` bytes of a body, failing with INVALID_RESPONSE beyond it. */
export async function readLimited(res: HttpResponse, limit: number, what: string): Promise<Buffer> {
  const length = Number(res.headers.get('content-length') ?? Number.NaN);
  if (length > limit) {
    await res.body?.cancel();
    throw new RegistryError('INVALID_RESPONSE', `${what}: ${length} bytes is over the ${limit} byte limit`);
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  if (res.body) {
    for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
      total += chunk.byteLength;
      if (total > limit) throw new RegistryError('INVALID_RESPONSE', `${what}: body is over the ${limit} byte limit`);
      chunks.push(chunk);
    }
  }
  return Buffer.concat(chunks);
}

function specErrors(text: string): SpecErrorDetail[] {
  try {
    const body = JSON.parse(text) as { errors?: unknown };
    if (!Array.isArray(body.errors)) return [];
    return body.errors
      .filter((e): e is Record<string, unknown> => typeof e === 'object' && e !== null && typeof (e as { code?: unknown }).code === 'string')
      .map((e) => ({ code: e.code as string, ...(typeof e.message === 'string' ? { message: e.message } : {}), detail: e.detail }));
  } catch {
    return []; // a 4xx body need not be JSON at all
  }
}

function statusCode(status: number): SpecErrorCode {
  if (status === 401) return 'UNAUTHORIZED';
  if (status === 403) return 'DENIED';
  if (status === 429) return 'TOOMANYREQUESTS';
  return 'UNKNOWN';
}

/** Turns an unexpected response into a {@link RegistryHttpError} naming the request and the spec code. */
export async function responseError(res: HttpResponse, method: string, url: string): Promise<RegistryHttpError> {
  const text = method === 'HEAD' ? '' : (await readLimited(res, 64 * 1024, `${method} ${displayUrl(url)}`).catch(() => Buffer.alloc(0))).toString('utf8');
  const errors = specErrors(text);
  const first = errors[0];
  const code = first && (SPEC_ERROR_CODES as readonly string[]).includes(first.code) ? (first.code as SpecErrorCode) : first ? 'UNKNOWN' : statusCode(res.status);
  const request = `${method} ${displayUrl(url)}`;
  let message = `${request}: ${res.status} ${code}`;
  if (first?.message) message += `: ${first.message}`;
  else if (!first && text.trim() && text.length < 200 && !/<html/i.test(text)) message += `: ${text.trim()}`;
  const limit = res.headers.get('ratelimit-limit');
  if (res.status === 429 && limit) message += ` (ratelimit-limit ${limit}, ratelimit-remaining ${res.headers.get('ratelimit-remaining') ?? '?'})`;
  return new RegistryHttpError(code, message, { status: res.status, request, errors });
}
