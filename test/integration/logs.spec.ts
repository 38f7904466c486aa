import { spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client } from 'pg';
import { testServer } from '../support/test-env';
import {
  ADMIN,
  type BuiltService,
  call,
  logIn,
  ROOT,
  signUp,
  startBuiltService,
} from '../support/built-service';

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];

type Line = Record<string, unknown> & { level: string; msg?: string };

describe('logs (the built service, every stdout line)', () => {
  let service: BuiltService;
  let lines: Line[];
  const ids: Record<string, string> = {};
  const traceId = randomBytes(16).toString('hex');

  /** A stand-in OpenTelemetry collector: the content types of the OTLP exports it received. */
  const exports: string[] = [];
  const collector = createServer((req, res) => {
    if (req.method === 'POST' && req.url === '/v1/traces') exports.push(String(req.headers['content-type']));
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end());
  });

  beforeAll(async () => {
    await new Promise<void>((r) => collector.listen(0, '127.0.0.1', r));
    const endpoint = `http://127.0.0.1:${(collector.address() as AddressInfo).port}`;
    service = await startBuiltService({ LOG_LEVEL: 'info', OTEL_EXPORTER_OTLP_ENDPOINT: endpoint });
    try {
      const user = await signUp(service, `logs-${randomUUID()}@example.com`);
      ids.user = user.id;
      // 404 WALLET_NOT_FOUND for a known user, 401 for nobody, a 201 inside the caller's trace.
      ids.notFound = (await call(service, 'GET', '/api/v1/wallets/me', { token: user.token })).headers.get(
        'x-request-id',
      )!;
      ids.anonymous = (await call(service, 'GET', '/api/v1/wallets/me')).headers.get('x-request-id')!;
      const created = await call(service, 'POST', '/api/v1/wallets', {
        token: user.token,
        body: { currency: 'USD' },
        headers: { traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01` },
      });
      expect(created.status).toBe(201);
      ids.traced = created.headers.get('x-request-id')!;
      await logIn(service, ADMIN.email, ADMIN.password);
      // Neither a liveness probe nor a scrape gets a line.
      expect((await call(service, 'GET', '/metrics')).status).toBe(200);
      expect((await call(service, 'GET', '/health/live')).status).toBe(200);

      // A 5xx: the service's database stops taking connections.
      const admin = new Client({ ...testServer(), database: 'postgres' });
      await admin.connect();
      try {
        await admin.query(`ALTER DATABASE ${service.db.database} WITH ALLOW_CONNECTIONS false`);
        await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [
          service.db.database,
        ]);
        const failed = await call(service, 'POST', '/api/v1/auth/login', {
          body: { email: ADMIN.email, password: ADMIN.password },
        });
        expect(failed.status).toBeGreaterThanOrEqual(500);
        ids.failed = failed.headers.get('x-request-id')!;
      } finally {
        await admin.query(`ALTER DATABASE ${service.db.database} WITH ALLOW_CONNECTIONS true`);
        await admin.end();
      }
    } finally {
      await service.stop();
    }
    lines = service
      .stdout()
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as Line); // throws on the first line that is not JSON
  });

  afterAll(async () => {
    await new Promise((r) => collector.close(r));
  });

  const requestLine = (id: string): Line => {
    const found = lines.filter((l) => (l.req as { id?: string } | undefined)?.id === id && 'res' in l);
    expect(found).toHaveLength(1);
    return found[0];
  };

  it('writes JSON from the first line to the last, with level names', () => {
    expect(lines.length).toBeGreaterThan(10);
    expect(lines[0].msg).toMatch(/PostgreSQL/);
    for (const line of lines) {
      expect(LEVELS).toContain(line.level);
      expect(typeof line.time).toBe('string');
    }
    expect(lines.some((l) => l.msg === 'Nest application successfully started')).toBe(true);
    expect(lines.at(-1)?.msg).toBe('Stopped cleanly');
  });

  it('writes no line for liveness probes and scrapes', () => {
    const urls = lines.map((l) => (l.req as { url?: string } | undefined)?.url);
    expect(urls).toContain('/api/v1/wallets/me');
    expect(urls).not.toContain('/metrics');
    expect(urls).not.toContain('/health/live');
  });

  it('logs a 4xx at info with its route, problem code, request id and, when known, the user', () => {
    const notFound = requestLine(ids.notFound);
    expect(notFound).toMatchObject({
      level: 'info',
      route: '/api/v1/wallets/me',
      code: 'WALLET_NOT_FOUND',
      userId: ids.user,
      requestId: ids.notFound,
      res: { statusCode: 404 },
    });
    const anonymous = requestLine(ids.anonymous);
    expect(anonymous).toMatchObject({ level: 'info', code: 'UNAUTHENTICATED', requestId: ids.anonymous });
    expect(anonymous).not.toHaveProperty('userId');
  });

  it("logs a 5xx at error with its request id and code, and a request's lines carry its trace id", () => {
    const failed = requestLine(ids.failed);
    expect(failed).toMatchObject({ level: 'error', requestId: ids.failed, route: '/api/v1/auth/login' });
    expect(typeof failed.code).toBe('string');
    expect(requestLine(ids.traced)).toMatchObject({ level: 'info', trace_id: traceId, userId: ids.user });
    // Probes and scrapes are not traced (tracing-sdk.ts): every other request line carries its trace.
    const traced = lines.filter(
      (l) => 'res' in l && !/^\/(health|metrics)/.test((l.req as { url: string }).url),
    );
    expect(traced.length).toBeGreaterThanOrEqual(5);
    for (const line of traced)
      expect({ url: line.req, trace: line.trace_id }).toEqual({
        url: line.req,
        trace: expect.stringMatching(/^[0-9a-f]{32}$/),
      });
  });

  it('sends the spans to OTEL_EXPORTER_OTLP_ENDPOINT by OTLP (protobuf over HTTP), the last ones as it stops', () => {
    expect(exports.length).toBeGreaterThanOrEqual(1);
    for (const type of exports) expect(type).toBe('application/x-protobuf');
  });

  it('says what is wrong with the configuration as one JSON line', () => {
    const r = spawnSync(process.execPath, ['dist/src/main.js'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, PORT: 'not-a-port' },
      encoding: 'utf8',
    });
    expect(r.status).toBe(1);
    const out = `${r.stdout}${r.stderr}`.trim().split('\n');
    expect(out).toHaveLength(1);
    expect(JSON.parse(out[0])).toMatchObject({ level: 'fatal', msg: expect.stringMatching(/PORT/) });
  });
});
