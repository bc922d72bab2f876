/** How requests and whole blob transfers are retried. */
export interface RetryOptions {
  /** Attempts in all, including the first. @default 4 */
  readonly attempts?: number;
  /** Wait before the second attempt, in milliseconds. @default 1000 */
  readonly delayMs?: number;
  /** Each further wait is multiplied by this. @default 3 */
  readonly factor?: number;
  /** Upper bound for any wait, including a registry's `Retry-After`. @default 10000 */
  readonly maxDelayMs?: number;
}

/** Statuses worth another attempt (go-containerregistry's list plus 499 and 522). */
const RETRY_STATUSES = new Set([408, 429, 499, 500, 502, 503, 504, 522]);
const RETRY_ERRNOS = new Set(['ECONNRESET', 'EPIPE', 'ECONNREFUSED', 'ETIMEDOUT', 'EAI_AGAIN', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED']);

export function isRetryableStatus(status: number): boolean {
  return RETRY_STATUSES.has(status);
}

/** True for resets, EOFs and other transport failures (undici wraps them in `TypeError: fetch failed`). */
export function isNetworkError(error: unknown): boolean {
  if (isLengthMismatch(error)) return false;
  for (let e = error as { code?: unknown; cause?: unknown; name?: unknown; message?: unknown } | undefined; e; e = e.cause as typeof e) {
    if (typeof e.code === 'string' && RETRY_ERRNOS.has(e.code)) return true;
    if (e.name === 'TypeError' && e.message === 'fetch failed') return true;
    if (typeof e.message === 'string' && /terminated|other side closed|socket hang up|premature close|^aborted$/i.test(e.message)) return true;
  }
  return false;
}

/** True for failures worth another attempt of an idempotent request: resets, EOFs, timeouts. */
export function isTransient(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  // A RegistryError (by its brand, to avoid an import cycle) is transient only as NETWORK or TIMEOUT.
  if (typeof error === 'object' && error !== null && (error as Record<symbol, unknown>)[Symbol.for('strata.registry.RegistryError')] === true) {
    return code === 'NETWORK' || code === 'TIMEOUT';
  }
  return isNetworkError(error);
}

/** True when undici refused a body whose length differed from the Content-Length we declared. */
export function isLengthMismatch(error: unknown): boolean {
  for (let e = error as { code?: unknown; cause?: unknown } | undefined; e; e = e.cause as typeof e) {
    if (e.code === 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH' || e.code === 'ERR_HTTP_CONTENT_LENGTH_MISMATCH') return true;
  }
  return false;
}

/** Parses `Retry-After` (seconds or an HTTP date) to milliseconds, or undefined. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (!value) return undefined;
  if (/^\s*\d+\s*$/.test(value)) return Number(value) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** Attempts per request and per blob transfer when the options do not say. */
export const DEFAULT_ATTEMPTS = 4;

/**
 * The wait before attempt `attempt + 1` of ONE request (attempt counts from 1): exponential
 * (1 s, 3 s, 9 s, …) with ±20% jitter so parallel requests do not retry in step, capped; a
 * registry's `Retry-After` is honoured up to the same cap. Nothing carries over to other requests:
 * a healthy request never waits because another one failed.
 */
export function backoffDelay(attempt: number, options: RetryOptions = {}, retryAfterMs?: number): number {
  const max = options.maxDelayMs ?? 10_000;
  if (retryAfterMs !== undefined) return Math.min(retryAfterMs, max);
  const base = (options.delayMs ?? 1000) * (options.factor ?? 3) ** (attempt - 1);
  return Math.min(max, base * (0.8 + Math.random() * 0.4));
}

/** The abort reason as a throwable, an `AbortError` when the signal gave none. */
export function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('aborted', 'AbortError');
}

/** Waits `ms`, rejecting early with the abort reason when `signal` fires. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(abortReason(signal));
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortReason(signal!));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
