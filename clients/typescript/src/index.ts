import createClient, { type Client, type ClientOptions } from 'openapi-fetch';
import type { paths } from './schema';

export type { components, operations, paths } from './schema';

/** The typed client: `api.POST('/api/v1/transfers', ...)`, with paths, bodies and answers from the document. */
export type HftsClient = Client<paths>;

export interface RetryOptions {
  /** Attempts in all, the first one included (default 4). */
  attempts?: number;
  /** The longest single wait; an answer asking for more is handed back to the caller as it is (default 30 s). */
  maxDelayMs?: number;
  /** The wait when an answer has no usable Retry-After: this, doubled on each retry (default 500 ms). */
  fallbackDelayMs?: number;
}

export interface HftsClientOptions extends Omit<ClientOptions, 'baseUrl' | 'fetch'> {
  /** Where the service is, e.g. `https://hfts.example.com` (the paths carry `/api/v1`). */
  baseUrl: string;
  /** The bearer token from login, or a function asked before every request (a token that changes). */
  token?: string | (() => string | undefined);
  /** Retries of 429 and 503 (see {@link shouldRetry}); `false` for none. */
  retry?: RetryOptions | false;
  /** The fetch underneath (default: the global one). Every attempt, retries included, goes through it. */
  fetch?: (request: Request) => Promise<Response>;
}

/** A fresh Idempotency-Key: a random UUID (Web Crypto, in Node and in browsers). */
export function newIdempotencyKey(): string {
  return globalThis.crypto.randomUUID();
}

type WithKey<I> = I extends { params: infer P }
  ? Omit<I, 'params'> & { params: P & { header: { 'Idempotency-Key': string } } }
  : I & { params: { header: { 'Idempotency-Key': string } } };

/**
 * The request options of one money-moving call, with its Idempotency-Key set: a new one, or `key` when
 * the caller retries a call of its own (after a timeout, say) and must send the key it sent before.
 *
 *   await api.POST('/api/v1/transfers', idempotent({ body: { toWalletId, amount, currency } }));
 *   await api.POST('/api/v1/transfers/{id}/capture', idempotent({ params: { path: { id } } }));
 *
 * The client's own retries (429, 503) resend the same request, so the same key, by construction.
 */
export function idempotent<I extends object>(init: I, key: string = newIdempotencyKey()): WithKey<I> {
  const params = (init as { params?: { header?: object } }).params ?? {};
  return {
    ...init,
    params: { ...params, header: { ...params.header, 'Idempotency-Key': key } },
  } as WithKey<I>;
}

/**
 * Whether an answer may be retried as it is. 429: the service refused before doing anything. 503 (busy pool,
 * shutting down) and 409 with Retry-After (CONCURRENCY_CONFLICT, IDEMPOTENCY_IN_PROGRESS): only reads and
 * requests with an Idempotency-Key, which the service answers at most once (a replay returns the first
 * answer); a register or login that met a 503 may have happened, so it is handed back.
 */
export function shouldRetry(request: Request, response: Response): boolean {
  if (response.status === 429) return true;
  const repeatable = ['GET', 'HEAD'].includes(request.method) || request.headers.has('Idempotency-Key');
  if (!repeatable) return false;
  return response.status === 503 || (response.status === 409 && response.headers.has('Retry-After'));
}

/** Retry-After in milliseconds (delay-seconds or an HTTP date, RFC 9110 §10.2.3); undefined when unusable. */
export function retryAfterMs(response: Response, now = Date.now()): number | undefined {
  const value = response.headers.get('Retry-After')?.trim();
  if (!value) return undefined;
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

function sleep(ms: number, signal: AbortSignal | null): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason as Error);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** A fetch that resends the very same request (method, URL, headers, body) while {@link shouldRetry} says so. */
export function retryingFetch(
  fetcher: (request: Request) => Promise<Response>,
  options: RetryOptions = {},
): (request: Request) => Promise<Response> {
  const attempts = Math.max(1, options.attempts ?? 4);
  const maxDelayMs = options.maxDelayMs ?? 30_000;
  const fallbackDelayMs = options.fallbackDelayMs ?? 500;
  return async (request) => {
    for (let attempt = 1; ; attempt++) {
      // A clone per attempt: a body can be read once, and the original stays unread for the next one.
      const response = await fetcher(request.clone());
      if (attempt >= attempts || !shouldRetry(request, response)) return response;
      const delay = retryAfterMs(response) ?? fallbackDelayMs * 2 ** (attempt - 1);
      if (delay > maxDelayMs) return response;
      await response.body?.cancel();
      await sleep(delay, request.signal);
    }
  };
}

/** The typed client with the bearer token and the retries. */
export function createHftsClient(options: HftsClientOptions): HftsClient {
  const { token, retry, fetch: fetcher, ...rest } = options;
  const base = fetcher ?? ((request: Request) => globalThis.fetch(request));
  const client = createClient<paths>({
    ...rest,
    fetch: retry === false ? base : retryingFetch(base, retry),
  });
  if (token !== undefined) {
    client.use({
      onRequest({ request }) {
        const value = typeof token === 'function' ? token() : token;
        if (value) request.headers.set('Authorization', `Bearer ${value}`);
        return request;
      },
    });
  }
  return client;
}

export {
  canonicalJson,
  type ConsistencyProof,
  type InclusionProof,
  leafHash,
  type LedgerEvent,
  LedgerVerificationError,
  type VerifiedCheckpoint,
  verifyConsistency,
  verifyInclusion,
  verifyInclusionOfLeafHash,
} from './verify';
export { openNote, parseVerifierKey, verifyCheckpoint } from './verify-note';
