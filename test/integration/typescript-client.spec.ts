import request from 'supertest';
import {
  createHftsClient,
  type HftsClient,
  idempotent,
  newIdempotencyKey,
} from '../../clients/typescript/src/index';
import { startTestApp, type TestApp } from '../support/app';
import { type Exchange, type OpenApiDocument, OpenApiResponseValidator } from '../support/openapi-responses';

/**
 * Issue 17 item 2: the committed client (clients/typescript), unchanged, drives the whole money flow over
 * HTTP against the real service on real PostgreSQL, and every answer it gets is checked against the
 * document the service serves at /docs-json.
 */

const ADMIN_EMAIL = 'client-admin@example.com';
const ADMIN_PASSWORD = 'client admin password';

/** The real fetch, recording every attempt (retries included) for the validator. */
function recordingFetch(exchanges: Array<Promise<Exchange>>) {
  return async (req: Request): Promise<Response> => {
    const res = await fetch(req);
    const copy = res.clone();
    exchanges.push(
      copy.text().then((body) => ({
        method: req.method,
        url: req.url,
        status: res.status,
        headers: res.headers,
        body,
      })),
    );
    return res;
  };
}

async function listen(t: TestApp): Promise<string> {
  await t.app.listen({ port: 0, host: '127.0.0.1' });
  const address = t.app.getHttpServer().address();
  if (!address || typeof address !== 'object') throw new Error('not listening');
  return `http://127.0.0.1:${address.port}`;
}

describe('the TypeScript client against the real service', () => {
  let t: TestApp;
  let baseUrl: string;
  let validator: OpenApiResponseValidator;
  let doc: OpenApiDocument;
  const exchanges: Array<Promise<Exchange>> = [];
  const client = (token?: string): HftsClient =>
    createHftsClient({ baseUrl, token, fetch: recordingFetch(exchanges) });

  beforeAll(async () => {
    t = await startTestApp({ ADMIN_EMAIL, ADMIN_PASSWORD });
    baseUrl = await listen(t);
    doc = (await request(t.server).get('/docs-json').expect(200)).body as OpenApiDocument;
    validator = new OpenApiResponseValidator(doc);
  });
  afterAll(async () => {
    await t?.close();
  });

  async function login(email: string, password: string): Promise<HftsClient> {
    const { data, error, response } = await client().POST('/api/v1/auth/login', {
      body: { email, password },
    });
    if (!data) throw new Error(`login ${response.status}: ${JSON.stringify(error)}`);
    expect(data.tokenType).toBe('Bearer');
    return client(data.accessToken);
  }

  async function newUser(name: string) {
    const email = `${name}-${newIdempotencyKey().slice(0, 8)}@example.com`;
    const password = `${name} password 1234`;
    const { data, response } = await client().POST('/api/v1/auth/register', {
      body: { email, password, fullName: name },
    });
    expect(response.status).toBe(201);
    expect(data?.email).toBe(email);
    const api = await login(email, password);
    const me = await api.GET('/api/v1/users/me');
    expect(me.data?.id).toBe(data?.id);
    const wallet = await api.POST('/api/v1/wallets', { body: { currency: 'USD' } });
    expect(wallet.response.status).toBe(201);
    return { api, wallet: wallet.data! };
  }

  it('registers, logs in, deposits, transfers, holds and captures in full, and lists the history', async () => {
    const admin = await login(ADMIN_EMAIL, ADMIN_PASSWORD);
    const alice = await newUser('alice');
    const bob = await newUser('bob');

    const deposit = await admin.POST(
      '/api/v1/admin/wallets/{id}/deposits',
      idempotent({
        params: { path: { id: alice.wallet.id } },
        body: { amount: '100.0000', currency: 'USD' },
      }),
    );
    expect(deposit.response.status).toBe(201);
    expect(deposit.data).toMatchObject({ type: 'DEPOSIT', status: 'COMPLETED', amount: '100.0000' });

    const key = newIdempotencyKey();
    const transferInit = idempotent(
      { body: { toWalletId: bob.wallet.id, amount: '12.5', currency: 'USD' } },
      key,
    );
    const transfer = await alice.api.POST('/api/v1/transfers', transferInit);
    expect(transfer.response.status).toBe(201);
    expect(transfer.data).toMatchObject({ type: 'TRANSFER', status: 'COMPLETED', amount: '12.5000' });
    // The same key again: the stored answer, and nothing moves twice.
    const replay = await alice.api.POST('/api/v1/transfers', transferInit);
    expect(replay.response.headers.get('Idempotent-Replayed')).toBe('true');
    expect(replay.data?.id).toBe(transfer.data?.id);

    const hold = await alice.api.POST(
      '/api/v1/transfers',
      idempotent({ body: { toWalletId: bob.wallet.id, amount: '30', currency: 'USD', hold: true } }),
    );
    expect(hold.response.status).toBe(201);
    expect(hold.data).toMatchObject({ status: 'PENDING', amount: '30.0000', heldAmount: '30.0000' });
    const held = await alice.api.GET('/api/v1/wallets/me');
    expect(held.data).toMatchObject({ balance: '87.5000', availableBalance: '57.5000' });

    // The receiver captures in full: no body at all, as the document allows (CaptureDto's amount is optional).
    const capture = await bob.api.POST(
      '/api/v1/transfers/{id}/capture',
      idempotent({ params: { path: { id: hold.data!.id } } }),
    );
    expect(capture.response.status).toBe(200);
    expect(capture.data).toMatchObject({ id: hold.data!.id, status: 'COMPLETED', amount: '30.0000' });

    const seen = await alice.api.GET('/api/v1/transfers/{id}', { params: { path: { id: hold.data!.id } } });
    expect(seen.data?.status).toBe('COMPLETED');

    const history = await alice.api.GET('/api/v1/wallets/me/transactions', {
      params: { query: { limit: 10 } },
    });
    expect(history.response.status).toBe(200);
    // The operation also answers text/csv (Accept), so the type is JSON page | CSV text.
    if (!history.data || typeof history.data === 'string') throw new Error('expected the JSON statement');
    expect(history.data.items.map((i) => [i.type, i.amount, i.direction, i.balanceAfter])).toEqual([
      ['TRANSFER', '30.0000', 'DEBIT', '57.5000'],
      ['TRANSFER', '12.5000', 'DEBIT', '87.5000'],
      ['DEPOSIT', '100.0000', 'CREDIT', '100.0000'],
    ]);
    const bobs = await bob.api.GET('/api/v1/wallets/me/balance');
    expect(bobs.data?.balance).toBe('42.5000');

    // Refusals are answers too, and must be the documented problems.
    const overdraw = await alice.api.POST(
      '/api/v1/transfers',
      idempotent({ body: { toWalletId: bob.wallet.id, amount: '1000', currency: 'USD' } }),
    );
    expect(overdraw.response.status).toBe(422);
    expect(overdraw.error && 'code' in overdraw.error && overdraw.error.code).toBe('INSUFFICIENT_FUNDS');
    const unknown = await bob.api.GET('/api/v1/transfers/{id}', {
      params: { path: { id: newIdempotencyKey() } },
    });
    expect(unknown.response.status).toBe(404);
    const anonymous = await client().GET('/api/v1/wallets/me');
    expect(anonymous.response.status).toBe(401);

    const answers = await Promise.all(exchanges);
    expect(answers.length).toBeGreaterThanOrEqual(20);
    expect(answers.flatMap((x) => validator.problems(x))).toEqual([]);
  });

  it('reports an answer that disagrees with the document', async () => {
    const answers = await Promise.all(exchanges);
    const wallet = answers.find(
      (x) => x.method === 'GET' && x.url.endsWith('/api/v1/wallets/me') && x.status === 200,
    );
    expect(wallet).toBeDefined();
    expect(validator.problems(wallet!)).toEqual([]);

    // The same real answer against a document that says otherwise: a balance typed as a number, a header
    // that must be sent, and a status it does not list.
    const altered = JSON.parse(JSON.stringify(doc)) as OpenApiDocument & {
      components: { schemas: Record<string, { properties: Record<string, unknown> }> };
    };
    altered.components.schemas.WalletDto.properties.balance = { type: 'number' };
    const ok = altered.paths['/api/v1/wallets/me'].get.responses['200'] as {
      headers: Record<string, unknown>;
    };
    ok.headers['X-Not-Sent'] = { required: true, schema: { type: 'string' } };
    const strict = new OpenApiResponseValidator(altered);
    const problems = strict.problems(wallet!);
    expect(problems.some((p) => p.includes('/balance must be number'))).toBe(true);
    expect(problems.some((p) => p.includes('required header X-Not-Sent missing'))).toBe(true);
    expect(strict.problems({ ...wallet!, status: 418 })).toEqual([
      'GET /api/v1/wallets/me -> 418: status 418 is not documented',
    ]);
  });
});

describe('the TypeScript client retrying 429 with the same Idempotency-Key', () => {
  let t: TestApp;
  let baseUrl: string;

  beforeAll(async () => {
    // One request per second per user: a burst of transfers meets 429 with Retry-After.
    t = await startTestApp({ ADMIN_EMAIL, ADMIN_PASSWORD, RATE_LIMIT_USER_PER_SECOND: '1' });
    baseUrl = await listen(t);
  });
  afterAll(async () => {
    await t?.close();
  });

  it('waits for Retry-After and resends each transfer with its key, and each moves money once', async () => {
    const attempts: Array<{ key: string | null; status: number; retryAfter: string | null }> = [];
    const exchanges: Array<Promise<Exchange>> = [];
    const recording = recordingFetch(exchanges);
    const observing = async (req: Request): Promise<Response> => {
      const res = await recording(req);
      attempts.push({
        key: req.headers.get('Idempotency-Key'),
        status: res.status,
        retryAfter: res.headers.get('Retry-After'),
      });
      return res;
    };
    const anonymous = createHftsClient({ baseUrl, retry: false });
    const token = async (email: string, password: string) =>
      (await anonymous.POST('/api/v1/auth/login', { body: { email, password } })).data!.accessToken;
    const admin = createHftsClient({ baseUrl, token: await token(ADMIN_EMAIL, ADMIN_PASSWORD) });
    const users = [];
    for (const name of ['payer', 'payee']) {
      const email = `${name}-${newIdempotencyKey().slice(0, 8)}@example.com`;
      await anonymous.POST('/api/v1/auth/register', {
        body: { email, password: 'retry password 1234', fullName: name },
      });
      const api = createHftsClient({
        baseUrl,
        token: await token(email, 'retry password 1234'),
        fetch: observing,
        retry: { attempts: 10 },
      });
      users.push({ api, wallet: (await api.POST('/api/v1/wallets', { body: { currency: 'EUR' } })).data! });
    }
    const [payer, payee] = users;
    const funded = await admin.POST(
      '/api/v1/admin/wallets/{id}/deposits',
      idempotent({ params: { path: { id: payer.wallet.id } }, body: { amount: '10', currency: 'EUR' } }),
    );
    expect(funded.response.status).toBe(201);
    attempts.length = 0;

    // Three transfers at once from one user allowed one request a second: the throttler refuses at least
    // two of the first three attempts before any work, and the client resends each after Retry-After.
    const results = await Promise.all(
      ['1', '2', '3'].map((amount) =>
        payer.api.POST(
          '/api/v1/transfers',
          idempotent({ body: { toWalletId: payee.wallet.id, amount, currency: 'EUR' } }),
        ),
      ),
    );
    expect(results.map((r) => r.response.status)).toEqual([201, 201, 201]);
    const refused = attempts.filter((a) => a.status === 429);
    expect(refused.length).toBeGreaterThanOrEqual(2);
    expect(refused.every((a) => Number(a.retryAfter) >= 1)).toBe(true);
    // Every attempt carried the key of one of the three calls, and each call's attempts shared it.
    const keys = new Set(attempts.map((a) => a.key));
    expect(keys.size).toBe(3);
    expect([...keys].every((k) => typeof k === 'string' && k.length > 0)).toBe(true);
    expect(attempts.filter((a) => a.status === 201)).toHaveLength(3);

    const moved = await t.sql.query<{ n: string; total: string }>(
      `SELECT count(*) AS n, sum(amount)::text AS total FROM transactions WHERE source_wallet_id = $1`,
      [payer.wallet.id],
    );
    expect(moved.rows[0]).toEqual({ n: '3', total: '6.0000' });
    // The refusals and the answers after them are as documented (429 with an integer Retry-After).
    const doc = (await request(t.server).get('/docs-json').expect(200)).body as OpenApiDocument;
    const answers = await Promise.all(exchanges);
    expect(answers.filter((x) => x.status === 429).length).toBe(refused.length);
    const validator = new OpenApiResponseValidator(doc);
    expect(answers.flatMap((x) => validator.problems(x))).toEqual([]);
    // A 429 with retries turned off is handed back to the caller as it came.
    const direct = createHftsClient({
      baseUrl,
      token: await token(ADMIN_EMAIL, ADMIN_PASSWORD),
      retry: false,
    });
    const burst = await Promise.all(
      [0, 1, 2].map(() =>
        direct.GET('/api/v1/admin/wallets/{id}/balance', { params: { path: { id: payer.wallet.id } } }),
      ),
    );
    // One request a second: of three at once, at most one passes (none, when the deposit above was in the
    // same second), and the refusals come back with Retry-After instead of being retried.
    const statuses = burst.map((r) => r.response.status);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(2);
    expect(statuses.every((s) => s === 200 || s === 429)).toBe(true);
    expect(
      burst.filter((r) => r.response.status === 429).every((r) => r.response.headers.has('Retry-After')),
    ).toBe(true);
  });
});
