import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { LoggerService } from '@nestjs/common';
import { isSpanContextValid, trace } from '@opentelemetry/api';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Logger, type Params, PinoLogger } from 'nestjs-pino';
import pino, { type LoggerOptions } from 'pino';
import { PROBLEM_CONTENT_TYPE } from '../common/http/problem-details';
import type { AppConfig } from '../config/app-config';

const REQUEST_ID = /^[\x21-\x7e]{1,128}$/;

/** The request id: the caller's X-Request-Id when it is sane, a new UUID otherwise. */
export function requestId(req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
}

/** What a request line says beyond method, URL and status; learnt as the response is sent. */
export interface RequestFacts {
  requestId: string;
  /** The route's pattern (`/api/v1/transfers/:id`), not the URL: one value per route. */
  route?: string;
  userId?: string;
  /** The problem `code` of a 4xx or 5xx answer. */
  code?: string;
}

/** Requests without a line: liveness probes and scrapes, every few seconds from every instance. */
const UNLOGGED = new Set(['/health/live', '/metrics']);

function urlPath(req: IncomingMessage & { originalUrl?: string }): string {
  return (req.originalUrl ?? req.url ?? '').split('?')[0];
}

const facts = new WeakMap<ServerResponse, RequestFacts>();

/**
 * Notes what the request line will say (called from an onSend hook, so before pino-http's line on
 * 'finish'): the route pattern, the authenticated user (the JWT guard leaves it on the Fastify request,
 * which pino-http never sees), and the problem code, read from the problem body itself so that a replayed
 * refusal carries its code as the first answer did.
 */
export function noteResponse(request: FastifyRequest, reply: FastifyReply, payload: unknown): RequestFacts {
  const noted: RequestFacts = { requestId: String(request.id) };
  const route = request.routeOptions.url;
  if (route) noted.route = route;
  const user = (request as { user?: { id?: unknown } }).user;
  if (typeof user?.id === 'string') noted.userId = user.id;
  const type = reply.getHeader('content-type');
  if (typeof payload === 'string' && typeof type === 'string' && type.startsWith(PROBLEM_CONTENT_TYPE)) {
    try {
      const { code } = JSON.parse(payload) as { code?: unknown };
      if (typeof code === 'string') noted.code = code;
    } catch {
      // Not a body we wrote; the line goes without a code.
    }
  }
  facts.set(reply.raw, noted);
  return noted;
}

/**
 * What every line carries, from the first: the level's name (`"level":"info"`, not 30), an ISO time, and
 * inside a trace the trace and span ids (the OpenTelemetry log data model's names), so that a line leads
 * to its trace. The ids come from the active span, which the http instrumentation keeps for the whole
 * request, pino-http's own line included.
 */
function baseOptions(level: string): LoggerOptions {
  return {
    level,
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    mixin() {
      const span = trace.getActiveSpan()?.spanContext();
      if (!span || !isSpanContextValid(span)) return {};
      return {
        trace_id: span.traceId,
        span_id: span.spanId,
        trace_flags: `0${span.traceFlags.toString(16)}`,
      };
    },
  };
}

/**
 * Structured JSON logs (pretty in development on a terminal): one line per request with id, route,
 * status, duration, the user and the problem code; 4xx at info (the client's), 5xx at error. Headers and
 * bodies are not logged, so no password or token can reach the logs.
 */
export function loggerOptions(config: AppConfig): Params {
  const pretty = config.env.NODE_ENV === 'development' && process.stdout.isTTY;
  const level = config.env.DEBUG ? 'debug' : config.env.LOG_LEVEL;
  const written = (lineLevel: 'info' | 'error') =>
    pino.levels.values[lineLevel] >= (pino.levels.values[level] ?? Infinity) ? lineLevel : 'silent';
  return {
    pinoHttp: {
      ...baseOptions(level),
      genReqId: (req) => (req as IncomingMessage & { id?: string }).id ?? requestId(req),
      transport: pretty ? { target: 'pino-pretty', options: { singleLine: true } } : undefined,
      redact: {
        // A failed query's error carries its parameters and PostgreSQL's "Failing row contains" detail:
        // a password hash or a webhook secret would reach the logs through them.
        paths: [
          'req.headers.authorization',
          'req.headers.cookie',
          '*.password',
          '*.accessToken',
          '*.secret',
          'err.parameters',
          'err.detail',
          'err.driverError.detail',
          'err.driverError.parameters',
        ],
        remove: true,
      },
      serializers: {
        req: (req: { id: string; method: string; url: string }) => ({
          id: req.id,
          method: req.method,
          url: req.url.split('?')[0],
        }),
        res: (res: ServerResponse) => ({ statusCode: res.statusCode }),
      },
      // Called when the request starts, when nothing is noted yet, and for the request's line, once the
      // answer is sent. Undefined at the start: pino-http tests the props for truth before making a child
      // logger of them (its types say object; `{}` cost a child logger per request).
      customProps: (_req, res) => facts.get(res) as RequestFacts,
      // 'silent' for a line the level would drop: pino-http then returns before building it (the props'
      // child logger, the line's objects). A request that logs nothing costs one child logger (req.log,
      // which carries the request id into what the handlers log), not three.
      customLogLevel: (_req, res, err) => written(err || res.statusCode >= 500 ? 'error' : 'info'),
      // originalUrl: inside Nest's middleware (middie) req.url has lost the part the route matched.
      autoLogging: { ignore: (req) => UNLOGGED.has(urlPath(req)) },
    },
    forRoutes: ['*path'],
  };
}

/**
 * The logger main.ts uses before the app exists (and gives Nest as its static logger), so that start-up
 * lines are the same JSON as the app's, not Nest's coloured text. Same options as the app's logger.
 */
export function startupLogger(config: AppConfig): LoggerService {
  const params = loggerOptions(config);
  return new Logger(new PinoLogger(params), params);
}

/** A line for when there is no valid configuration to build a logger from (it says why on stderr). */
export function writeFatal(message: string): void {
  pino(baseOptions('fatal'), pino.destination(2)).fatal(message);
}
