import type { Agent, IncomingMessage } from 'node:http';
import { createRequire } from 'node:module';
import { Readable } from 'node:stream';

const nodeRequire = createRequire(import.meta.url);

/**
 * The part of a fetch `Response` the client reads. A WHATWG `Response` fits it, and so does the
 * answer of {@link nodeFetch}, so an injected `fetch` keeps working.
 */
export interface HttpResponse {
  readonly status: number;
  readonly headers: { get(name: string): string | null };
  /** The body: iterate it, or `cancel()` it to drop the rest. */
  readonly body: (AsyncIterable<Uint8Array> & { cancel(reason?: unknown): Promise<void> }) | null;
}

/** What the client passes to a fetch. */
export interface HttpRequestInit {
  readonly method?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: Uint8Array | string | AsyncIterable<Uint8Array>;
  /** `manual` hands 3xx answers back; `error` fails on them. */
  readonly redirect?: 'manual' | 'error';
  readonly signal?: AbortSignal | null;
  readonly duplex?: 'half';
}

/** A fetch as the client uses it. */
export type HttpFetch = (url: URL | string, init?: HttpRequestInit) => Promise<HttpResponse>;

/** How requests of one scheme are made: its module's `request`, and one keep-alive agent. */
interface Client {
  readonly request: typeof import('node:https').request;
  readonly agent: Agent;
}

/** Header values of a node answer, joined as fetch joins them. */
function headerGetter(message: IncomingMessage): HttpResponse['headers'] {
  return {
    get(name: string) {
      const value = message.headers[name.toLowerCase()];
      return value === undefined ? null : Array.isArray(value) ? value.join(', ') : String(value);
    },
  };
}

function bodyOf(message: IncomingMessage, method: string): HttpResponse['body'] {
  if (method === 'HEAD' || message.statusCode === 204 || message.statusCode === 304) {
    message.resume();
    return null;
  }
  return Object.assign(message as AsyncIterable<Uint8Array>, {
    cancel: async () => {
      message.destroy();
    },
  });
}

/**
 * Under this symbol a request body's chunk may carry a function that gives its memory back to its
 * producer (`@strata/image`'s gzip lends its output buffers so): it is called once, when the
 * socket has taken the chunk or the request has failed, and the chunk is not touched after.
 */
export const RELEASE = Symbol.for('strata.release');

/**
 * A fetch over `node:http`/`node:https` with keep-alive agents: what the client uses unless one
 * is injected. Node's built-in fetch costs about 40 MiB of memory on its first request (its HTTP
 * parser is WebAssembly) and runs every chunk through web streams; this runs none of that.
 */
export function nodeFetch(): HttpFetch {
  // node:http and node:https (with TLS) are loaded by the first request that needs them: most
  // commands never talk to a registry, and loading both cost about 12 ms of every start-up.
  const clients: { http?: Client; https?: Client } = {};
  const client = (secure: boolean): Client => {
    const kind = secure ? 'https' : 'http';
    clients[kind] ??= ((module: typeof import('node:https')) => ({ request: module.request, agent: new module.Agent({ keepAlive: true }) }))(nodeRequire(`node:${kind}`));
    return clients[kind];
  };
  return (input, init = {}) =>
    new Promise<HttpResponse>((resolve, reject) => {
      const url = new URL(input);
      const method = init.method ?? 'GET';
      const secure = url.protocol === 'https:';
      const signal = init.signal ?? undefined;
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      const { request, agent } = client(secure);
      const req = request(url, { method, headers: { ...init.headers }, agent });
      // A body shorter or longer than its Content-Length is an error, as it is in fetch.
      (req as { strictContentLength?: boolean }).strictContentLength = true;
      const onAbort = () => req.destroy(signal!.reason as Error);
      signal?.addEventListener('abort', onAbort, { once: true });
      req.once('close', () => signal?.removeEventListener('abort', onAbort));
      // As fetch reports them: a failed request is `TypeError: fetch failed` with the cause attached.
      req.once('error', (error) => reject(signal?.aborted ? signal.reason : new TypeError('fetch failed', { cause: error })));
      req.once('response', (message) => {
        if (init.redirect === 'error' && message.statusCode !== undefined && message.statusCode >= 300 && message.statusCode < 400) {
          message.destroy();
          reject(new TypeError(`fetch failed: ${method} ${url.origin}${url.pathname} redirected`));
          return;
        }
        // An abort after the answer ends its body too.
        message.once('error', () => {});
        resolve({ status: message.statusCode ?? 0, headers: headerGetter(message), body: bodyOf(message, method) });
      });
      const body = init.body;
      if (body === undefined) req.end();
      else if (typeof body === 'string' || body instanceof Uint8Array) req.end(body);
      else {
        const source = Readable.from(body, { objectMode: false });
        source.on('error', (error) => req.destroy(error));
        // A request that fails midway stops reading its body (so its producer is closed too).
        req.once('close', () => source.destroy());
        // As pipe() does it, except that a lent chunk goes back to its producer once the socket has
        // taken it (or the request has failed): the producer writes its next block into it.
        source.on('data', (chunk: Buffer) => {
          const release = (chunk as { [RELEASE]?: unknown })[RELEASE];
          const more = typeof release === 'function' ? req.write(chunk, () => release()) : req.write(chunk);
          if (!more) source.pause();
        });
        req.on('drain', () => source.resume());
        source.once('end', () => req.end());
      }
    });
}

let shared: HttpFetch | undefined;

/** The process-wide {@link nodeFetch} (one pair of keep-alive agents, as Node's global agent is shared). */
export function defaultFetch(): HttpFetch {
  shared ??= nodeFetch();
  return shared;
}
