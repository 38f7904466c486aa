import { randomBytes, randomUUID } from 'node:crypto';
import { ADMIN, type BuiltService, call, logIn, signUp, startBuiltService } from '../support/built-service';

interface SpanRecord {
  name: string;
  kind: number;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  scope: string;
  attributes: Record<string, unknown>;
}

const SERVER = 1; // SpanKind.SERVER
const CLIENT = 2; // SpanKind.CLIENT

/** Every span the service has finished so far, asked over IPC (test/support/traced-service.mjs). */
function spansOf(service: BuiltService): Promise<SpanRecord[]> {
  return new Promise((resolve) => {
    const onMessage = (m: { spans?: SpanRecord[] }): void => {
      if (!m.spans) return;
      service.proc.off('message', onMessage);
      resolve(m.spans);
    };
    service.proc.on('message', onMessage);
    service.proc.send('spans');
  });
}

describe('traces (the built service with OpenTelemetry, spans kept in memory)', () => {
  let service: BuiltService;

  beforeAll(async () => {
    service = await startBuiltService({ LOG_LEVEL: 'warn' }, ['test/support/traced-service.mjs']);
  });
  afterAll(async () => {
    await service?.stop();
  });

  it("follows one transfer from the caller's traceparent through HTTP, Fastify and the engine to each pg query", async () => {
    const admin = await logIn(service, ADMIN.email, ADMIN.password);
    const payer = await signUp(service, `payer-${randomUUID()}@example.com`);
    const payee = await signUp(service, `payee-${randomUUID()}@example.com`);
    const wallet = async (token: string) =>
      (await call(service, 'POST', '/api/v1/wallets', { token, body: { currency: 'EUR' } })).body
        .id as string;
    const from = await wallet(payer.token);
    const to = await wallet(payee.token);
    const deposit = await call(service, 'POST', `/api/v1/admin/wallets/${from}/deposits`, {
      token: admin,
      headers: { 'idempotency-key': randomUUID() },
      body: { amount: '50', currency: 'EUR' },
    });
    expect(deposit.status).toBe(201);

    const traceId = randomBytes(16).toString('hex');
    const callerSpan = randomBytes(8).toString('hex');
    const transfer = await call(service, 'POST', '/api/v1/transfers', {
      token: payer.token,
      headers: { 'idempotency-key': randomUUID(), traceparent: `00-${traceId}-${callerSpan}-01` },
      body: { toWalletId: to, amount: '12.5', currency: 'EUR' },
    });
    expect(transfer.status).toBe(201);

    let spans: SpanRecord[] = [];
    for (let i = 0; i < 50; i++) {
      spans = (await spansOf(service)).filter((s) => s.traceId === traceId);
      if (spans.some((s) => s.kind === SERVER)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const byId = new Map(spans.map((s) => [s.spanId, s]));
    const ancestors = (s: SpanRecord): SpanRecord[] => {
      const chain: SpanRecord[] = [];
      for (
        let p = s.parentSpanId && byId.get(s.parentSpanId);
        p;
        p = p.parentSpanId && byId.get(p.parentSpanId)
      )
        chain.push(p);
      return chain;
    };

    // HTTP: the server span continues the caller's trace, as the caller's span's child.
    const servers = spans.filter((s) => s.kind === SERVER);
    expect(servers).toHaveLength(1);
    const [server] = servers;
    expect(server.scope).toBe('@opentelemetry/instrumentation-http');
    expect(server.parentSpanId).toBe(callerSpan);
    expect(server.attributes['http.response.status_code'] ?? server.attributes['http.status_code']).toBe(201);

    // Fastify: the route's request span, under the server span, names the route.
    const route = spans.find((s) => s.scope === '@fastify/otel' && ancestors(s).includes(server));
    expect(route).toBeDefined();
    expect(
      JSON.stringify(spans.filter((s) => s.scope === '@fastify/otel').map((s) => s.attributes)),
    ).toContain('/api/v1/transfers');

    // The engine: one attempt, inside the request.
    const attempts = spans.filter((s) => s.name === 'engine.attempt');
    expect(attempts).toHaveLength(1);
    expect(ancestors(attempts[0])).toContain(server);
    expect(attempts[0].attributes).toMatchObject({
      'hfts.engine.mode': 'optimistic',
      'hfts.engine.movements': 1,
    });

    // pg: the engine's read and write, as client spans under the attempt.
    const queries = spans.filter((s) => s.scope === '@opentelemetry/instrumentation-pg' && s.kind === CLIENT);
    const engineQueries = queries.filter((q) => ancestors(q).includes(attempts[0]));
    expect(engineQueries.length).toBeGreaterThanOrEqual(2);
    for (const q of engineQueries)
      expect(q.attributes['db.system.name'] ?? q.attributes['db.system']).toBe('postgresql');
    // Every span of the trace hangs from the caller's span: nothing was orphaned on the way.
    for (const s of spans) expect(s === server || ancestors(s).includes(server)).toBe(true);
  });

  it('starts a new trace when the caller sends none, and makes no span for probes and scrapes', async () => {
    const before = new Set((await spansOf(service)).map((s) => s.traceId));
    const res = await call(service, 'GET', '/api/v1/wallets/me');
    expect(res.status).toBe(401);
    await call(service, 'GET', '/metrics');
    await call(service, 'GET', '/health/live');
    await new Promise((r) => setTimeout(r, 200));
    const fresh = (await spansOf(service)).filter((s) => !before.has(s.traceId) && s.kind === SERVER);
    expect(fresh.map((s) => s.attributes['url.path'] ?? s.attributes['http.target'])).toEqual([
      '/api/v1/wallets/me',
    ]);
  });
});
