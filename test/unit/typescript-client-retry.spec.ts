import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHftsClient, idempotent, retryAfterMs, shouldRetry } from '../../clients/typescript/src/index';

/**
 * The client's retry rules (clients/typescript), over real HTTP to a small server that answers from a
 * script: the transport only, no money (the real service's 429 path is in
 * test/integration/typescript-client.spec.ts).
 */

interface Seen {
  method: string;
  url: string;
  key: string | undefined;
  body: string;
}

function scripted(answers: Array<{ status: number; headers?: Record<string, string>; body?: unknown }>) {
  const seen: Seen[] = [];
  const server: Server = createServer((req: IncomingMessage, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      seen.push({
        method: req.method ?? '',
        url: req.url ?? '',
        key: req.headers['idempotency-key'] as string,
        body,
      });
      const answer = answers[Math.min(seen.length - 1, answers.length - 1)];
      res.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers });
      res.end(JSON.stringify(answer.body ?? {}));
    });
  });
  return {
    seen,
    start: () =>
      new Promise<string>((resolve) =>
        server.listen(0, '127.0.0.1', () =>
          resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`),
        ),
      ),
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('the TypeScript client retries', () => {
  it('resends a money-moving request after 503 with the same key and body, once Retry-After allows', async () => {
    const s = scripted([
      { status: 503, headers: { 'Retry-After': '1' }, body: { code: 'SERVICE_UNAVAILABLE' } },
      { status: 409, headers: { 'Retry-After': '1' }, body: { code: 'IDEMPOTENCY_IN_PROGRESS' } },
      { status: 201, body: { id: 'x' } },
    ]);
    const baseUrl = await s.start();
    try {
      const api = createHftsClient({ baseUrl, token: 't' });
      const init = idempotent({ body: { toWalletId: 'w', amount: '1', currency: 'USD' } });
      const res = await api.POST('/api/v1/transfers', init);
      expect(res.response.status).toBe(201);
      expect(s.seen).toHaveLength(3);
      const key = init.params.header['Idempotency-Key'];
      expect(key).toMatch(/^[0-9a-f-]{36}$/);
      expect(s.seen.map((x) => [x.method, x.url, x.key, JSON.parse(x.body)])).toEqual(
        Array(3).fill(['POST', '/api/v1/transfers', key, { toWalletId: 'w', amount: '1', currency: 'USD' }]),
      );
    } finally {
      await s.stop();
    }
  });

  it('hands a 503 to a request without a key (register, login) back instead of repeating it', async () => {
    const s = scripted([{ status: 503, headers: { 'Retry-After': '1' } }, { status: 201 }]);
    const baseUrl = await s.start();
    try {
      const api = createHftsClient({ baseUrl });
      const res = await api.POST('/api/v1/auth/register', {
        body: { email: 'a@example.com', password: 'p', fullName: 'A' },
      });
      expect(res.response.status).toBe(503);
      expect(s.seen).toHaveLength(1);
    } finally {
      await s.stop();
    }
  });

  it('gives up after the attempts allowed, and on a Retry-After longer than it will wait', async () => {
    const s = scripted([{ status: 429, headers: { 'Retry-After': '0' } }]);
    const baseUrl = await s.start();
    try {
      const api = createHftsClient({ baseUrl, retry: { attempts: 3 } });
      expect((await api.GET('/api/v1/wallets/me')).response.status).toBe(429);
      expect(s.seen).toHaveLength(3);
    } finally {
      await s.stop();
    }
    const slow = scripted([{ status: 429, headers: { 'Retry-After': '120' } }]);
    const slowUrl = await slow.start();
    try {
      const api = createHftsClient({ baseUrl: slowUrl, retry: { maxDelayMs: 5_000 } });
      const res = await api.GET('/api/v1/wallets/me');
      expect([res.response.status, res.response.headers.get('Retry-After')]).toEqual([429, '120']);
      expect(slow.seen).toHaveLength(1);
    } finally {
      await slow.stop();
    }
  });

  it('reads Retry-After as seconds or as an HTTP date, and retries only what may be repeated', () => {
    const now = Date.parse('2026-12-01T12:00:00Z');
    const answer = (status: number, retryAfter?: string) =>
      new Response(null, { status, headers: retryAfter ? { 'Retry-After': retryAfter } : {} });
    expect(retryAfterMs(answer(429, '3'), now)).toBe(3000);
    expect(retryAfterMs(answer(429, 'Tue, 01 Dec 2026 12:00:05 GMT'), now)).toBe(5000);
    expect(retryAfterMs(answer(429, 'soon'), now)).toBeUndefined();
    expect(retryAfterMs(answer(429), now)).toBeUndefined();

    const keyed = new Request('http://h/x', { method: 'POST', headers: { 'Idempotency-Key': 'k' } });
    const plain = new Request('http://h/x', { method: 'POST' });
    const read = new Request('http://h/x');
    expect([keyed, plain, read].map((r) => shouldRetry(r, answer(429)))).toEqual([true, true, true]);
    expect([keyed, plain, read].map((r) => shouldRetry(r, answer(503)))).toEqual([true, false, true]);
    expect([keyed, plain].map((r) => shouldRetry(r, answer(409, '1')))).toEqual([true, false]);
    expect(shouldRetry(keyed, answer(409))).toBe(false);
    expect(shouldRetry(keyed, answer(422))).toBe(false);
  });
});
