import helmet from 'helmet';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Logger } from 'nestjs-pino';
import { AppModule } from '../app.module';
import { AppError } from '../common/errors/error-codes';
import { assertBodyDepth } from '../common/http/body-depth';
import { assertJsonBody } from '../common/http/content-type';
import { sendProblem } from '../common/http/problem-details.filter';
import type { AppConfig } from '../config/app-config';
import { LifecycleService } from '../lifecycle/lifecycle.service';
import { MetricsService } from '../metrics/metrics.service';
import { noteResponse, requestId } from './logger';
import { setupDocs } from './swagger';

/**
 * TRUST_PROXY as Fastify's trustProxy: '' or 'false' trust no proxy (the socket's peer is the client),
 * 'true' any, a number that many hops, anything else a comma-separated list of addresses and CIDR ranges
 * (already checked by the env schema).
 */
export function trustProxySetting(value: string): boolean | number | string[] {
  const v = value.trim().toLowerCase();
  if (v === '' || v === 'false') return false;
  if (v === 'true') return true;
  if (/^\d+$/.test(v)) return Number(v);
  return v
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean);
}

/**
 * Builds the application exactly as production runs it (used by main.ts and by the tests): Fastify,
 * security headers, request ids, problem-details errors, metrics, docs.
 */
export async function createApp(
  config: AppConfig,
  options: { bufferLogs?: boolean } = {},
): Promise<NestFastifyApplication> {
  const adapter = new FastifyAdapter({
    bodyLimit: config.env.BODY_LIMIT_BYTES,
    requestIdHeader: false,
    genReqId: requestId,
    // Slow or silent clients cannot hold a connection forever.
    requestTimeout: config.env.REQUEST_TIMEOUT_MS,
    connectionTimeout: config.env.REQUEST_TIMEOUT_MS,
    keepAliveTimeout: 65000,
    // Node checks requestTimeout only every connectionsCheckingInterval (30 s by default): a client
    // trickling a byte at a time would otherwise hold its socket for up to 30 s past the timeout.
    http: { connectionsCheckingInterval: 1000 },
    // Once the server is closing, Fastify's own 503 is `{error, message, statusCode}` as application/json,
    // unlike every other error: the service answers those requests itself, as a problem (hook below).
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    // Who the client is (request.ip, which the per-IP login limit counts): behind a load balancer
    // every peer is the balancer, so TRUST_PROXY says which hops' X-Forwarded-For to believe.
    trustProxy: trustProxySetting(config.env.TRUST_PROXY),
  });
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(config), adapter, {
    bufferLogs: options.bufferLogs ?? true,
    abortOnError: false,
    ...(config.env.LOG_LEVEL === 'silent' ? { logger: false } : {}),
  });
  app.useLogger(app.get(Logger));
  app.setGlobalPrefix('api/v1', { exclude: ['health/live', 'health/ready', 'metrics'] });

  const fastify = app.getHttpAdapter().getInstance();
  // Node bounds the time to receive a request's headers (requestTimeout), but not its body: a client
  // sending one byte of body every second would hold its socket and a parser forever. Such a socket is
  // closed once REQUEST_TIMEOUT_MS have passed without the whole body.
  const bodyTimeoutMs = config.env.REQUEST_TIMEOUT_MS;
  fastify.addHook('onRequest', (request, reply, done) => {
    void reply.header('X-Request-Id', request.id);
    const raw = request.raw;
    if (!raw.complete && (raw.headers['content-length'] || raw.headers['transfer-encoding'])) {
      const timer = setTimeout(() => {
        if (!raw.complete) raw.socket.destroy();
      }, bodyTimeoutMs);
      const clear = (): void => clearTimeout(timer);
      raw.once('end', clear);
      raw.once('close', clear);
    }
    done();
  });
  fastify.addHook('preParsing', (request, _reply, payload, done) => {
    try {
      assertJsonBody(request.headers);
      done(null, payload);
    } catch (err) {
      done(err as Error);
    }
  });
  fastify.addHook('preValidation', (request, _reply, done) => {
    try {
      assertBodyDepth(request.body);
      done();
    } catch (err) {
      done(err as Error);
    }
  });
  // While shutting down, every response closes its connection: a keep-alive socket that was busy when
  // SIGTERM came would otherwise hold the server open until its keep-alive timeout (65 s).
  const lifecycle = app.get(LifecycleService);
  fastify.addHook('onSend', (_request, reply, payload, done) => {
    if (lifecycle.isShuttingDown) void reply.header('Connection', 'close');
    done(null, payload);
  });
  const metrics = app.get(MetricsService);
  fastify.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? 'unmatched';
    metrics.httpDuration.observe(
      { method: request.method, route, status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
    done();
  });
  // What the request line says (route, user, problem code), and refusals counted by their code.
  fastify.addHook('onSend', (request, reply, payload, done) => {
    const { code } = noteResponse(request, reply, payload);
    if (code) metrics.refusals.inc({ code });
    done(null, payload);
  });

  // Security headers. The helmet middleware is built once: @fastify/helmet rebuilds it (and re-parses
  // the CSP directives) on every request, about 2% of a transfer's CPU.
  const securityHeaders = helmet({
    contentSecurityPolicy: {
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'", "'unsafe-inline'"],
        imgSrc: ["'self'", 'data:'],
        fontSrc: ["'self'", 'data:'],
        workerSrc: ["'self'", 'blob:'],
      },
    },
  });
  fastify.addHook('onRequest', (request, reply, done) => {
    securityHeaders(request.raw, reply.raw, (err?: unknown) => done(err instanceof Error ? err : undefined));
  });
  // From the moment Fastify starts closing (app.close(), after SIGTERM), a request that still reaches the
  // server (pipelined, or on a keep-alive connection that was busy) is refused before any handler runs:
  // 503 SERVICE_UNAVAILABLE as problem details, with Retry-After; Fastify has already set Connection: close.
  let closing = false;
  fastify.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  fastify.addHook('onRequest', (request, reply, done) => {
    if (!closing) return done();
    const error = new AppError('SERVICE_UNAVAILABLE', 'The instance is shutting down; retry shortly', {
      retryAfter: 1,
    });
    sendProblem(reply, error, String(request.id));
  });
  const origins = config.env.CORS_ORIGINS.split(',')
    .map((o) => o.trim())
    .filter(Boolean);
  if (origins.length > 0) {
    // Contract v1.1: every method the API uses (an admin console PATCHes a user's status, and the
    // defaults allowed only GET, HEAD and POST) and the headers clients send and read.
    app.enableCors({
      origin: origins,
      methods: ['GET', 'HEAD', 'POST', 'PATCH', 'DELETE', 'OPTIONS'],
      allowedHeaders: ['Authorization', 'Content-Type', 'Idempotency-Key', 'X-Request-Id'],
      exposedHeaders: ['X-Request-Id', 'Retry-After', 'Idempotent-Replayed'],
      maxAge: 600,
    });
  }
  setupDocs(app);
  return app;
}
