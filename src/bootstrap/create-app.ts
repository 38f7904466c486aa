import helmet from '@fastify/helmet';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { Logger } from 'nestjs-pino';
import { AppModule } from '../app.module';
import { AppError } from '../common/errors/error-codes';
import { sendProblem, toAppError } from '../common/http/problem-details.filter';
import type { AppConfig } from '../config/app-config';
import { MetricsService } from '../health/metrics.service';
import { requestId } from './logger';
import { setupDocs } from './swagger';

/** Errors Fastify raises before a route handler runs (body parsing, size limit), as contract codes. */
function fastifyError(error: FastifyError): AppError {
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new AppError('PAYLOAD_TOO_LARGE', 'The request body is larger than the limit');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new AppError('UNSUPPORTED_MEDIA_TYPE', 'Send the body as application/json');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new AppError('MALFORMED_JSON', 'The body is not valid JSON');
    default:
      if (error instanceof SyntaxError) return new AppError('MALFORMED_JSON', 'The body is not valid JSON');
      if (error.statusCode === 413) return new AppError('PAYLOAD_TOO_LARGE', 'The request body is larger than the limit');
      if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500)
        return new AppError('BAD_REQUEST', 'The request could not be read');
      return toAppError(error);
  }
}

/**
 * Builds the application exactly as production runs it (used by main.ts and by the tests): Fastify,
 * security headers, request ids, problem-details errors, metrics, docs.
 */
export async function createApp(config: AppConfig, options: { bufferLogs?: boolean } = {}): Promise<NestFastifyApplication> {
  const adapter = new FastifyAdapter({
    bodyLimit: config.env.BODY_LIMIT_BYTES,
    requestIdHeader: false,
    genReqId: requestId,
    // Slow or silent clients cannot hold a connection forever.
    requestTimeout: config.env.REQUEST_TIMEOUT_MS,
    connectionTimeout: config.env.REQUEST_TIMEOUT_MS,
    keepAliveTimeout: 65000,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    trustProxy: false,
  });
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(config), adapter, {
    bufferLogs: options.bufferLogs ?? true,
    abortOnError: false,
  });
  app.useLogger(app.get(Logger));
  app.setGlobalPrefix('api/v1', { exclude: ['health/live', 'health/ready', 'metrics'] });

  const fastify = app.getHttpAdapter().getInstance();
  fastify.addHook('onRequest', (request, reply, done) => {
    void reply.header('X-Request-Id', request.id);
    done();
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
  fastify.setErrorHandler((error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    sendProblem(reply, fastifyError(error), String(request.id));
  });

  await app.register(helmet, {
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
  const origins = config.env.CORS_ORIGINS.split(',').map((o) => o.trim()).filter(Boolean);
  if (origins.length > 0) {
    app.enableCors({ origin: origins, exposedHeaders: ['X-Request-Id', 'Retry-After', 'Idempotent-Replayed'] });
  }
  setupDocs(app);
  return app;
}
