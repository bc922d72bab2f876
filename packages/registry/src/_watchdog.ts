import { RegistryError } from './errors.js';
import { displayUrl } from './_response.js';
import type { HttpFetch, HttpRequestInit, HttpResponse } from './_http.js';

/** Connect and idle timeouts for every request. */
export interface Timeouts {
  /** Time to get a first sign of life (the response, or the request body being taken). @default 30000 */
  readonly connectTimeoutMs?: number;
  /** Time a transfer may go with less than 1 KiB moved, in either direction, before it is dropped. @default 60000 */
  readonly idleTimeoutMs?: number;
}

/** Less than this many bytes within an idle window counts as no progress: a trickle is a stall. */
const MIN_PROGRESS = 1024;

/**
 * Aborts one request when it makes no progress. Only time spent waiting on the network counts:
 * the timer runs while the request body waits to be taken and while a read of the response waits
 * for bytes, not while our own producer or consumer is busy.
 */
class Watchdog {
  readonly #abort: AbortController;
  readonly #request: string;
  readonly #idleMs: number;
  #timer: NodeJS.Timeout | undefined;
  #armedAt = 0;
  #waited = 0;
  #bytes = 0;
  #connected = false;
  #finished = false;
  error: RegistryError | undefined;

  constructor(abort: AbortController, request: string, timeouts: Timeouts) {
    this.#abort = abort;
    this.#request = request;
    this.#idleMs = timeouts.idleTimeoutMs ?? 60_000;
    const connectMs = timeouts.connectTimeoutMs ?? 30_000;
    this.#set(connectMs, `no answer within ${seconds(connectMs)} (connect timeout)`);
  }

  #set(ms: number, why: string): void {
    clearTimeout(this.#timer);
    // A request that has ended (an abort may still pull its body once more) is never watched again.
    if (this.#finished) return;
    this.#armedAt = Date.now();
    this.#timer = setTimeout(() => {
      this.error = new RegistryError('TIMEOUT', `${this.#request}: ${why}`);
      this.#abort.abort(this.error);
    }, Math.max(0, ms));
    // The request's socket keeps the process alive while it matters; the watchdog alone must not.
    this.#timer.unref();
  }

  /** Starts (or goes on) waiting on the network. */
  wait(): void {
    this.#connected = true;
    this.#set(this.#idleMs - this.#waited, `less than 1 KiB moved in ${seconds(this.#idleMs)} (idle timeout)`);
  }

  /** Stops counting: the network delivered, or took, `bytes`. */
  progress(bytes: number): void {
    if (!this.#connected) this.#connected = true;
    else this.#waited += Date.now() - this.#armedAt;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#bytes += bytes;
    if (this.#bytes >= MIN_PROGRESS) {
      this.#bytes = 0;
      this.#waited = 0;
    }
  }

  done(): void {
    this.#finished = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))} s`;
}

function describe(input: URL | string, init?: HttpRequestInit): string {
  return `${init?.method ?? 'GET'} ${displayUrl(input)}`;
}

/** The request body as a generator that tells the watchdog when the network takes each chunk. */
async function* watchedBody(body: AsyncIterable<Uint8Array>, dog: Watchdog): AsyncGenerator<Uint8Array> {
  for await (const chunk of body) {
    dog.wait();
    yield chunk;
    dog.progress(chunk.byteLength);
  }
  dog.wait(); // the body is sent: now the registry has to answer
}

/** The response body, timed while a read waits; a broken transfer fails naming the request. */
function watchedResponse(res: HttpResponse, dog: Watchdog, request: string): HttpResponse {
  const source = res.body;
  if (!source) {
    dog.done();
    return res;
  }
  let received = 0;
  async function* chunks(): AsyncGenerator<Uint8Array> {
    const iterator = source![Symbol.asyncIterator]();
    try {
      for (;;) {
        dog.wait();
        let next: IteratorResult<Uint8Array>;
        try {
          next = await iterator.next();
        } catch (error) {
          if (dog.error) throw dog.error;
          if (error instanceof RegistryError || (error as Error).name === 'AbortError') throw error;
          const cause = (error as Error).cause instanceof Error ? ` (${((error as Error).cause as Error).message})` : '';
          throw new RegistryError('NETWORK', `${request}: the response broke after ${received} bytes: ${(error as Error).message}${cause}`, { cause: error });
        }
        if (next.done) return;
        dog.progress(next.value.byteLength);
        received += next.value.byteLength;
        yield next.value;
      }
    } finally {
      dog.done();
      // Stopped early (the consumer broke off): drop the rest of the answer.
      await iterator.return?.();
    }
  }
  const body = Object.assign(chunks(), {
    cancel: async (reason?: unknown) => {
      dog.done();
      await source.cancel(reason);
    },
  });
  return { status: res.status, headers: res.headers, body };
}

/**
 * Wraps a fetch with connect and idle timeouts. A timeout aborts the request with a TIMEOUT
 * RegistryError naming the request and the limit; the caller's own signal still aborts as before.
 */
export function watchedFetch(inner: HttpFetch, timeouts: Timeouts): HttpFetch {
  return async (input, init = {}) => {
    const request = describe(input, init);
    const abort = new AbortController();
    const dog = new Watchdog(abort, request, timeouts);
    const signal = init.signal ? AbortSignal.any([init.signal, abort.signal]) : abort.signal;
    const body = init.body;
    const iterable = body !== undefined && typeof body === 'object' && Symbol.asyncIterator in body;
    try {
      const res = await inner(input, { ...init, signal, ...(iterable ? { body: watchedBody(body as AsyncIterable<Uint8Array>, dog) } : {}) });
      dog.progress(0);
      return watchedResponse(res, dog, request);
    } catch (error) {
      dog.done();
      throw dog.error ?? error;
    }
  };
}
