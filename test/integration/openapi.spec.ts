import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { ERROR_CODES } from '../../src/common/errors/error-codes';
import { LifecycleService } from '../../src/lifecycle/lifecycle.service';
import { startTestApp, type TestApp } from '../support/app';

/** Contract v1.1 and issue 17: the OpenAPI document is what client teams generate SDKs from. */

interface Schema {
  type?: string;
  $ref?: string;
  enum?: string[];
  required?: string[];
  properties?: Record<string, Schema>;
  [key: string]: unknown;
}
interface Response {
  description: string;
  headers?: Record<string, { $ref?: string }>;
  content?: Record<
    string,
    { schema?: Schema; examples?: Record<string, { value: Record<string, unknown> }> }
  >;
}
interface Operation {
  operationId?: string;
  summary?: string;
  tags?: string[];
  security?: unknown[];
  parameters?: Array<{ name: string; in: string; schema?: Schema; required?: boolean }>;
  requestBody?: { required?: boolean; content: Record<string, { schema: Schema }> };
  responses: Record<string, Response>;
}
interface Document {
  tags: Array<{ name: string; description?: string }>;
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, Schema>; headers: Record<string, unknown> };
}

const ROOT = join(__dirname, '..', '..');
const REDOCLY = join(ROOT, 'node_modules', '@redocly', 'cli', 'bin', 'cli.js');
const PUBLIC_CODES = Object.keys(ERROR_CODES).filter((c) => c !== 'ACCOUNT_INACTIVE_PARTY');

describe('the OpenAPI document', () => {
  let t: TestApp;
  let doc: Document;
  let ops: Array<{ path: string; method: string; op: Operation }>;
  let dir: string;

  beforeAll(async () => {
    t = await startTestApp();
    doc = (await request(t.server).get('/docs-json').expect(200)).body as Document;
    ops = Object.entries(doc.paths).flatMap(([path, item]) =>
      Object.entries(item).map(([method, op]) => ({ path, method, op })),
    );
    dir = mkdtempSync(join(tmpdir(), 'hfts-openapi-spec-'));
  });
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await t.close();
  });

  const ref = (schema: Schema | undefined): Schema | undefined =>
    schema?.$ref ? doc.components.schemas[schema.$ref.split('/').pop()!] : schema;

  it("passes Redocly's recommended ruleset with no error", () => {
    const file = join(dir, 'openapi.json');
    writeFileSync(file, JSON.stringify(doc));
    const run = spawnSync(
      process.execPath,
      [REDOCLY, 'lint', file, '--extends=recommended', '--format=json'],
      {
        encoding: 'utf8',
        env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' },
      },
    );
    const report = JSON.parse(run.stdout) as {
      totals: { errors: number; warnings: number };
      problems: Array<{
        ruleId: string;
        severity: string;
        message: string;
        location: Array<{ pointer: string }>;
      }>;
    };
    const errors = report.problems
      .filter((p) => p.severity === 'error')
      .map((p) => `${p.ruleId} at ${p.location[0]?.pointer}: ${p.message}`);
    expect(errors).toEqual([]);
    expect(report.totals.errors).toBe(0);
    expect(run.status).toBe(0);
  });

  it('is the document `npm run openapi:lint` lints (built without a server or a database)', () => {
    const file = join(dir, 'built.json');
    const run = spawnSync(process.execPath, [join(ROOT, 'scripts', 'openapi.mjs'), '--out', file], {
      encoding: 'utf8',
      cwd: ROOT,
      // No database settings at all: preview mode instantiates no provider.
      env: { PATH: process.env.PATH ?? '' },
    });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual(doc);
  });

  it('names every operation as an SDK method, uniquely, with a summary and a declared, described tag', () => {
    const ids = ops.map(({ op }) => op.operationId);
    expect(new Set(ids).size).toBe(ids.length);
    const declared = new Map(doc.tags.map((tag) => [tag.name, tag.description]));
    for (const { path, method, op } of ops) {
      const where = `${method.toUpperCase()} ${path}`;
      expect([where, op.operationId]).toEqual([where, expect.stringMatching(/^[a-z][A-Za-z]+$/)]);
      expect([where, op.operationId]).not.toEqual([where, expect.stringMatching(/Controller|_/)]);
      expect([where, op.summary?.length]).toEqual([where, expect.any(Number)]);
      expect([where, op.tags?.length]).toEqual([where, expect.any(Number)]);
      for (const tag of op.tags ?? [])
        expect([where, tag, declared.get(tag)]).toEqual([where, tag, expect.any(String)]);
    }
    expect(ids).toEqual(
      expect.arrayContaining(['createTransfer', 'captureHold', 'voidHold', 'refundTransfer', 'getMyWallet']),
    );
  });

  it('documents every status the HTTP edge sends: 413 and 415 with a body, 401, 429 and 503', () => {
    for (const { path, method, op } of ops) {
      const where = `${method.toUpperCase()} ${path}`;
      const statuses = Object.keys(op.responses);
      const expected = ['503'];
      if (op.requestBody || method === 'post' || method === 'patch') expected.push('413', '415');
      if (!path.startsWith('/health/')) expected.push('429');
      if (op.security?.length) expected.push('401');
      expect([where, statuses]).toEqual([where, expect.arrayContaining(expected)]);
      // Every error response is a problem body, with one example per code it names.
      for (const [status, response] of Object.entries(op.responses).filter(([s]) => Number(s) >= 400)) {
        const problem = response.content?.['application/problem+json'];
        expect([where, status, problem?.schema?.$ref]).toEqual([
          where,
          status,
          '#/components/schemas/ProblemDetailsDto',
        ]);
        const examples = Object.values(problem?.examples ?? {});
        expect([where, status, examples.length > 0]).toEqual([where, status, true]);
        for (const { value } of examples) {
          expect(value.status).toBe(Number(status));
          expect(PUBLIC_CODES).toContain(value.code);
        }
      }
    }
  });

  it('documents the headers: X-Request-Id everywhere, Idempotent-Replayed and Retry-After where sent', () => {
    for (const { path, method, op } of ops) {
      const where = `${method.toUpperCase()} ${path}`;
      const moneyMoving = (op.parameters ?? []).some(
        (p) => p.in === 'header' && p.name === 'Idempotency-Key',
      );
      for (const [status, response] of Object.entries(op.responses)) {
        const headers = Object.keys(response.headers ?? {});
        const expected = ['X-Request-Id'];
        const code = Number(status);
        if (moneyMoving && (code < 300 || code === 422)) expected.push('Idempotent-Replayed');
        if (code === 429 || code === 503 || (moneyMoving && code === 409)) expected.push('Retry-After');
        expect([where, status, headers]).toEqual([where, status, expect.arrayContaining(expected)]);
      }
    }
    expect(Object.keys(doc.components.headers)).toEqual(
      expect.arrayContaining(['X-Request-Id', 'Idempotent-Replayed', 'Retry-After']),
    );
  });

  it('gives the problem code as an enum of the stable codes, as the contract spells them', () => {
    const problem = doc.components.schemas.ProblemDetailsDto;
    // A named enum (ErrorCode), so that generators make one type of it.
    const code = problem.properties!.code;
    const codes = ref(code.$ref || code.enum ? code : (code.allOf as Schema[])[0])!.enum!;
    expect([...codes].sort()).toEqual([...PUBLIC_CODES].sort());
    expect(doc.components.schemas.BatchItemErrorDto.properties!.code).toEqual(
      expect.objectContaining({ allOf: [{ $ref: '#/components/schemas/ErrorCode' }] }),
    );
    expect(problem.required).toEqual(
      expect.arrayContaining(['type', 'title', 'status', 'detail', 'code', 'requestId']),
    );
    expect(problem.properties!.status.type).toBe('integer');
  });

  it('types integers as integers, marks always-present fields required and nullable ones nullable', () => {
    const numbers: string[] = [];
    const walk = (node: unknown, at: string): void => {
      if (Array.isArray(node)) node.forEach((n, i) => walk(n, `${at}/${i}`));
      else if (node && typeof node === 'object') {
        if ((node as Schema).type === 'number') numbers.push(at);
        Object.entries(node).forEach(([k, v]) => walk(v, `${at}/${k}`));
      }
    };
    walk(doc, '#');
    expect(numbers).toEqual([]);
    const tx = doc.components.schemas.TransactionDto;
    expect(tx.required!.sort()).toEqual(Object.keys(tx.properties!).sort());
    for (const field of [
      'sourceWalletId',
      'destinationWalletId',
      'heldAmount',
      'description',
      'reference',
      'failureReason',
      'holdExpiresAt',
      'completedAt',
      'originalTransactionId',
    ]) {
      expect([field, tx.properties![field].nullable]).toEqual([field, true]);
    }
    for (const name of ['WalletDto', 'UserDto', 'TokenDto', 'BalanceDto', 'StatementPageDto']) {
      const s = doc.components.schemas[name];
      expect([name, s.required!.sort()]).toEqual([name, Object.keys(s.properties!).sort()]);
    }
    expect(doc.components.schemas.WalletDto.properties!.version.type).toBe('integer');
    expect(doc.components.schemas.TokenDto.properties!.expiresIn.type).toBe('integer');
  });

  it('makes no optional request field required, by `required` or by a `default`', () => {
    const defaults: string[] = [];
    const walk = (node: unknown, at: string, seen: Set<string>): void => {
      if (Array.isArray(node)) node.forEach((n, i) => walk(n, `${at}/${i}`, seen));
      else if (node && typeof node === 'object') {
        const schema = node as Schema;
        if ('default' in schema) defaults.push(at);
        if (schema.$ref && !seen.has(schema.$ref)) {
          seen.add(schema.$ref);
          walk(ref(schema), schema.$ref, seen);
        }
        Object.entries(node).forEach(([k, v]) => walk(v, `${at}/${k}`, seen));
      }
    };
    for (const { path, method, op } of ops) {
      walk(op.parameters, `${method} ${path} parameters`, new Set());
      walk(op.requestBody, `${method} ${path} body`, new Set());
    }
    expect(defaults).toEqual([]);
    const capture = doc.paths['/api/v1/transfers/{id}/capture'].post;
    expect(capture.requestBody?.required).toBeFalsy();
    expect(ref(capture.requestBody!.content['application/json'].schema)!.required ?? []).toEqual([]);
    const refund = doc.paths['/api/v1/transfers/{id}/refunds'].post;
    expect(ref(refund.requestBody!.content['application/json'].schema)!.required ?? []).toEqual([]);
    const transfer = ref(
      doc.paths['/api/v1/transfers'].post.requestBody!.content['application/json'].schema,
    )!;
    expect(transfer.required!.sort()).toEqual(['amount', 'currency', 'toWalletId']);
  });

  it('sends the headers and bodies it documents', async () => {
    const res = await request(t.server)
      .post('/api/v1/auth/login')
      .set('Content-Type', 'text/plain')
      .send('hello')
      .expect(415);
    expect(res.headers['x-request-id']).toEqual(expect.any(String));
    expect(res.body).toMatchObject({
      code: 'UNSUPPORTED_MEDIA_TYPE',
      status: 415,
      requestId: res.headers['x-request-id'],
    });
    const unauthenticated = await request(t.server).get('/api/v1/wallets/me').expect(401);
    expect(unauthenticated.headers['x-request-id']).toEqual(expect.any(String));
  });

  // Last: the instance stays marked as shutting down.
  it('documents readiness 503 as the body it really sends: a problem, with Retry-After', async () => {
    const documented = doc.paths['/health/ready'].get.responses['503'];
    expect(Object.keys(documented.content ?? {})).toContain('application/problem+json');
    t.app.get(LifecycleService).markShuttingDown();
    const res = await request(t.server).get('/health/ready').expect(503);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.headers['retry-after']).toMatch(/^\d+$/);
    expect(res.headers['x-request-id']).toEqual(expect.any(String));
    const problem = doc.components.schemas.ProblemDetailsDto;
    expect(Object.keys(res.body)).toEqual(expect.arrayContaining(problem.required!));
    expect(res.body).toMatchObject({ status: 503, code: 'SERVICE_UNAVAILABLE' });
  });

  // Last of all: the server is closed. A request that still reaches it (pipelined, or on a keep-alive
  // connection busy when SIGTERM came) gets the shared 503 problem, not Fastify's {error, message, statusCode}.
  it('answers a request that reaches the closing server as a 503 problem, with Retry-After and Connection: close', async () => {
    const documented = doc.paths['/api/v1/transfers'].post.responses['503'];
    expect(Object.keys(documented.content ?? {})).toEqual(['application/problem+json']);
    expect(doc.components.schemas.ServerClosingDto).toBeUndefined();
    await t.app.getHttpAdapter().getInstance().close();
    for (const path of ['/api/v1/users/me', '/health/live', '/api/v1/no-such-route']) {
      const res = await request(t.server).get(path).expect(503);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.headers['retry-after']).toBe('1');
      expect(res.headers.connection).toBe('close');
      expect(res.headers['x-request-id']).toEqual(expect.any(String));
      expect(res.body).toMatchObject({
        status: 503,
        code: 'SERVICE_UNAVAILABLE',
        type: 'https://hfts.dev/problems/service-unavailable',
        requestId: res.headers['x-request-id'],
      });
    }
  });
});
