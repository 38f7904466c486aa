import { readFileSync } from 'node:fs';
import type { INestApplication } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import {
  DocumentBuilder,
  type HeaderObject,
  type OpenAPIObject,
  type OperationObject,
  type ParameterObject,
  type ReferenceObject,
  type ResponseObject,
  SwaggerModule,
} from '@nestjs/swagger';
import { problemCodes, problemResponse } from '../common/http/api-problems.decorator';
import { ProblemDetailsDto } from '../common/http/problem-details.dto';

const REDOC_HTML = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>HFTS API reference</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><redoc spec-url="/docs-json"></redoc><script src="/redoc/redoc.standalone.js"></script></body></html>`;

/** The tags operations are grouped by, in this order, each with what it holds. */
const TAGS: Array<[name: string, description: string]> = [
  ['auth', 'Register and log in: the bearer token every other endpoint needs'],
  ['users', 'Your own account'],
  ['wallets', 'Your wallet: balance, statement, withdrawals'],
  ['transfers', 'Money between wallets: transfers, batches, holds (capture, void) and refunds'],
  ['events', 'Every committed change of money or of an account, in commit order (the outbox)'],
  ['webhooks', 'Your webhook endpoints, signed deliveries of your events, and their delivery log'],
  [
    'ledger',
    'The verifiable ledger: signed checkpoints of a Merkle tree of the events, inclusion and consistency proofs',
  ],
  ['admin', 'For admins: user status, deposits, any wallet’s balance, reconciliation'],
  ['operations', 'Liveness and readiness probes, for load balancers and orchestrators'],
];

const HEADERS: Record<string, HeaderObject> = {
  'X-Request-Id': {
    description:
      'The request id: the one the request sent in X-Request-Id, or a new one. Also the problem body’s `requestId`',
    required: true,
    schema: { type: 'string', example: '6f1c2a4e-3c1b-4f7e-9a51-0e3b0f6a9d12' },
  },
  'Idempotent-Replayed': {
    description:
      '`true` when this is the stored answer to an earlier request with the same Idempotency-Key (nothing moved again); absent otherwise',
    schema: { type: 'string', enum: ['true'] },
  },
  'Retry-After': {
    description: 'Seconds to wait before retrying (with the same Idempotency-Key, for money-moving requests)',
    schema: { type: 'integer', minimum: 1, example: 1 },
  },
};

const ref = (name: string): ReferenceObject => ({ $ref: `#/components/headers/${name}` });

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

/** Codes of a 409 that come with Retry-After. */
const RETRY_409 = /^(CONCURRENCY_CONFLICT|IDEMPOTENCY_IN_PROGRESS)$/;

function isMoneyMoving(op: OperationObject): boolean {
  return (op.parameters ?? []).some(
    (p: ParameterObject | ReferenceObject) => 'in' in p && p.in === 'header' && p.name === 'Idempotency-Key',
  );
}

/**
 * What every operation gets by rule, on top of what its decorators say: the statuses the HTTP edge can
 * send on any route (413 and 415 where a body is read, 429 where requests are counted, 503), an explicit
 * `security: []` on public routes, and the headers the service sends on each response.
 */
function completeOperation(path: string, method: string, op: OperationObject): void {
  const responses = op.responses as Record<string, ResponseObject>;
  const isHealth = path.startsWith('/health/');
  const add = (status: number): void => {
    if (!responses[status]) responses[status] = problemResponse(status);
  };
  if (method === 'post' || method === 'patch' || method === 'put') [413, 415].forEach(add);
  // Health probes are public and not counted: no bearer token, no per-user limit.
  if (!isHealth) add(429);
  add(503);
  if (op.security === undefined) op.security = [];
  for (const param of (op.parameters ?? []) as ParameterObject[]) {
    if (param.in === 'path' && param.name === 'id') {
      param.description ??= 'A UUID, in any case';
      param.schema = { type: 'string', format: 'uuid', example: '5b1f0c1e-2a4d-4e8f-9c1b-0d6e7f8a9b10' };
    }
  }
  op.responses = Object.fromEntries(Object.entries(responses).sort(([a], [b]) => a.localeCompare(b)));

  const moneyMoving = isMoneyMoving(op);
  for (const [status, response] of Object.entries(op.responses as Record<string, ResponseObject>)) {
    const code = Number(status);
    if (!response.description) response.description = code === 201 ? 'Created' : 'OK';
    const headers: Record<string, HeaderObject | ReferenceObject> = { ...response.headers };
    headers['X-Request-Id'] = ref('X-Request-Id');
    if (moneyMoving && ((code >= 200 && code < 300) || code === 422)) {
      headers['Idempotent-Replayed'] = ref('Idempotent-Replayed');
    }
    if (code === 429 || code === 503) headers['Retry-After'] = ref('Retry-After');
    if (code === 409 && problemCodes(409, response.description ?? '').some((c) => RETRY_409.test(c))) {
      headers['Retry-After'] = {
        ...HEADERS['Retry-After'],
        description:
          'With CONCURRENCY_CONFLICT and IDEMPOTENCY_IN_PROGRESS: seconds to wait before retrying with the same Idempotency-Key',
      };
    }
    response.headers = headers;
  }
}

/** The OpenAPI document of the application's routes (the app needs no database: see scripts/openapi.mjs). */
export function buildOpenApiDocument(app: INestApplication): OpenAPIObject {
  const builder = new DocumentBuilder()
    .setTitle('High-frequency transaction service')
    .setDescription(
      'Users, wallets and atomic transfers. Money is a decimal string with up to 4 decimals; errors are ' +
        'RFC 9457 problem details with a stable `code`. Register, log in, click **Authorize** and paste the token.\n\n' +
        'Every response carries `X-Request-Id`. Requests that move money take an `Idempotency-Key`; a replayed ' +
        'answer carries `Idempotent-Replayed: true`. 409 (CONCURRENCY_CONFLICT, IDEMPOTENCY_IN_PROGRESS), 429 and ' +
        '503 carry `Retry-After`: retry after that many seconds with the same Idempotency-Key.',
    )
    .setVersion('1.1.0')
    .setLicense('MIT', 'https://opensource.org/licenses/MIT')
    .addServer('/', 'This service')
    .addBearerAuth({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' }, 'bearer');
  for (const [name, description] of TAGS) builder.addTag(name, description);
  const document = SwaggerModule.createDocument(app, builder.build(), {
    extraModels: [ProblemDetailsDto],
    // Every operation names its own (ApiOperation's operationId); this is only the fallback.
    operationIdFactory: (_controllerKey, methodKey) => methodKey,
  });
  document.components = {
    ...document.components,
    headers: { ...document.components?.headers, ...HEADERS },
    schemas: {
      ...document.components?.schemas,
      HealthIndicatorDto: {
        type: 'object',
        description:
          'One check: `up` or `down`, with what it adds (Redis: `required: false`, and `message` when down)',
        required: ['status'],
        properties: { status: { type: 'string', enum: ['up', 'down'] } },
        additionalProperties: true,
      },
      ReadinessDto: {
        type: 'object',
        description:
          'The checks by name (`instance`, `database`, and `redis` when configured): `info` those up, ' +
          '`error` those down, `details` all of them',
        required: ['status', 'info', 'error', 'details'],
        properties: {
          status: { type: 'string', enum: ['ok'] },
          ...Object.fromEntries(
            ['info', 'error', 'details'].map((name) => [
              name,
              { type: 'object', additionalProperties: { $ref: '#/components/schemas/HealthIndicatorDto' } },
            ]),
          ),
        },
      },
    },
  };
  for (const [path, item] of Object.entries(document.paths)) {
    for (const method of METHODS) {
      const op = item[method];
      if (op) completeOperation(path, method, op);
    }
  }
  return document;
}

/** Swagger UI at /docs, the OpenAPI document at /docs-json, ReDoc at /redoc; all assets served locally. */
export function setupDocs(app: NestFastifyApplication): void {
  const document = buildOpenApiDocument(app);
  SwaggerModule.setup('docs', app, document, {
    jsonDocumentUrl: 'docs-json',
    yamlDocumentUrl: 'docs-yaml',
    customSiteTitle: 'HFTS API',
    swaggerOptions: { persistAuthorization: true, displayRequestDuration: true },
  });
  const redocScript = readFileSync(require.resolve('redoc/bundles/redoc.standalone.js'));
  const fastify = app.getHttpAdapter().getInstance();
  fastify.get('/redoc', (_req, reply) => {
    void reply.type('text/html; charset=utf-8').send(REDOC_HTML);
  });
  fastify.get('/redoc/redoc.standalone.js', (_req, reply) => {
    void reply
      .type('application/javascript; charset=utf-8')
      .header('Cache-Control', 'public, max-age=86400')
      .send(redocScript);
  });
}
