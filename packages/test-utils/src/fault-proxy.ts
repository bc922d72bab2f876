import { createServer, type IncomingMessage, request, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** What the proxy does to a matching request instead of (or while) forwarding it. */
export type Fault =
  /** Close the connection without an answer (a reset / EOF). */
  | { readonly kind: 'reset' }
  /** Answer with this status (and `Retry-After`) without forwarding. */
  | { readonly kind: 'status'; readonly status: number; readonly retryAfter?: string }
  /** Forward, but close the connection after `bytes` of the response body (default: half). */
  | { readonly kind: 'truncate'; readonly bytes?: number }
  /** Forward, flipping one byte in the middle of the response body (same length, wrong digest). */
  | { readonly kind: 'corrupt' }
  /**
   * Hold the connection open and go silent: without `bytes`, never answer (nor read the request
   * body); with `bytes`, forward the answer's headers and that many body bytes, then nothing more.
   */
  | { readonly kind: 'stall'; readonly bytes?: number }
  /** Forward, but send the response body one byte every `intervalMs` (a trickle that never quite stops). */
  | { readonly kind: 'trickle'; readonly intervalMs: number }
  /** Forward the request (the registry acts on it), then drop the connection instead of answering. */
  | { readonly kind: 'lose-response' };

/** A fault applied to requests matching `method` and `path`, `times` times. */
export interface FaultRule {
  readonly method?: string;
  readonly path?: RegExp;
  readonly fault: Fault;
  /** How many matching requests get the fault. @default 1, or unlimited with `chance` */
  readonly times?: number;
  /** Probability (0..1) that a matching request gets the fault, drawn from the proxy's seeded generator. @default 1 */
  readonly chance?: number;
}

/** Options for {@link startFaultProxy}. */
export interface FaultProxyOptions {
  /** Seed of the generator `chance` draws from, so a run can be replayed. @default 1 */
  readonly seed?: number;
}

/** mulberry32: a small seeded generator, so a fault sequence can be replayed from its seed. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One request that went through the proxy. */
export interface ProxiedRequest {
  readonly method: string;
  readonly path: string;
  readonly fault?: Fault['kind'];
  /** Milliseconds since the epoch when the request arrived. */
  readonly at: number;
  /** Bytes of request body received. */
  readonly bodyBytes: number;
  readonly authorization: boolean;
  /** The request's Range header, if any. */
  readonly range?: string;
}

/** A running fault-injecting proxy. */
export interface RunningFaultProxy {
  /** `127.0.0.1:PORT`. */
  readonly host: string;
  readonly url: string;
  readonly requests: readonly ProxiedRequest[];
  /** Adds a rule (rules are tried in order). */
  addFault(rule: FaultRule): void;
  clearFaults(): void;
  stop(): Promise<void>;
}

/** Writes `body` one byte every `intervalMs` until it ends or the socket closes. */
function trickle(res: ServerResponse, socket: Socket, body: Buffer, intervalMs: number): void {
  let at = 0;
  const timer = setInterval(() => {
    if (at >= body.length) {
      clearInterval(timer);
      res.end();
      return;
    }
    res.write(body.subarray(at, ++at));
  }, intervalMs);
  socket.on('close', () => clearInterval(timer));
}

function forward(upstream: URL, req: IncomingMessage, res: ServerResponse, fault: Fault | undefined, counted: (n: number) => void): void {
  const socket = req.socket;
  const out = request(
    { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
    (up) => {
      if (fault?.kind === 'lose-response') {
        // Let the registry finish (it has acted on the request), then drop the answer.
        up.resume();
        up.on('end', () => socket.destroy());
        return;
      }
      res.writeHead(up.statusCode ?? 502, up.headers);
      if (fault?.kind === 'trickle') {
        const chunks: Buffer[] = [];
        up.on('data', (c: Buffer) => chunks.push(c));
        up.on('end', () => trickle(res, socket, Buffer.concat(chunks), fault.intervalMs));
        return;
      }
      const length = Number(up.headers['content-length'] ?? 0);
      const cut = fault?.kind === 'truncate' ? (fault.bytes ?? Math.floor(length / 2)) : fault?.kind === 'stall' ? (fault.bytes ?? 0) : Number.POSITIVE_INFINITY;
      const flipAt = fault?.kind === 'corrupt' ? Math.floor(length / 2) : -1;
      let sent = 0;
      up.on('data', (chunk: Buffer) => {
        if (sent >= cut) return;
        let piece = chunk.subarray(0, Math.max(0, cut - sent));
        if (flipAt >= sent && flipAt < sent + piece.length) {
          piece = Buffer.from(piece);
          piece[flipAt - sent] = (piece[flipAt - sent] ?? 0) ^ 0xff;
        }
        sent += piece.length;
        res.write(piece);
        if (sent >= cut) {
          up.destroy();
          // A stall keeps the connection open and silent; a truncation lets the client read what
          // arrived (a web stream drops queued chunks when it errors), then drops the connection.
          if (fault?.kind !== 'stall') setTimeout(() => socket.destroy(), 200);
        }
      });
      up.on('end', () => {
        if (sent < cut) res.end();
      });
    },
  );
  out.on('error', () => socket.destroy());
  req.on('data', (c: Buffer) => counted(c.length));
  req.pipe(out);
}

/**
 * Starts an HTTP proxy on loopback in front of `upstream` (e.g. a registry) that injects faults:
 * resets, error statuses with `Retry-After`, truncated and corrupted bodies, stalls, trickles and
 * lost answers. The Host header is
 * passed through, so the registry writes the proxy's address into its `Location` headers.
 */
export async function startFaultProxy(upstream: string, rules: readonly FaultRule[] = [], options: FaultProxyOptions = {}): Promise<RunningFaultProxy> {
  const target = new URL(upstream);
  const random = seeded(options.seed ?? 1);
  const budget = (rule: FaultRule) => rule.times ?? (rule.chance === undefined ? 1 : Number.POSITIVE_INFINITY);
  const active: { rule: FaultRule; left: number }[] = rules.map((rule) => ({ rule, left: budget(rule) }));
  const requests: ProxiedRequest[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    const path = req.url ?? '/';
    const match = active.find(
      (a) => a.left > 0 && (!a.rule.method || a.rule.method === req.method) && (!a.rule.path || a.rule.path.test(path)) && (a.rule.chance === undefined || random() < a.rule.chance),
    );
    if (match) match.left--;
    const fault = match?.rule.fault;
    const entry = { method: req.method ?? '', path, at: Date.now(), bodyBytes: 0, authorization: req.headers.authorization !== undefined, ...(req.headers.range ? { range: req.headers.range } : {}), ...(fault ? { fault: fault.kind } : {}) };
    requests.push(entry);
    const counted = (n: number) => {
      entry.bodyBytes += n;
    };
    if (fault?.kind === 'reset') {
      req.socket.destroy();
      return;
    }
    if (fault?.kind === 'stall' && fault.bytes === undefined) {
      // Accept the connection, read nothing more, answer nothing: stop() closes it.
      req.pause();
      return;
    }
    if (fault?.kind === 'status') {
      req.on('data', (c: Buffer) => counted(c.length));
      req.on('end', () => {
        res.writeHead(fault.status, { 'content-type': 'application/json', ...(fault.retryAfter ? { 'retry-after': fault.retryAfter } : {}) });
        res.end(JSON.stringify({ errors: [{ code: fault.status === 429 ? 'TOOMANYREQUESTS' : 'UNKNOWN', message: `injected ${fault.status}` }] }));
      });
      return;
    }
    forward(target, req, res, fault, counted);
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    host: `127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}`,
    requests,
    addFault: (rule) => active.push({ rule, left: budget(rule) }),
    clearFaults: () => {
      active.length = 0;
    },
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
