import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Params } from 'nestjs-pino';
import type { AppConfig } from '../config/app-config';

const REQUEST_ID = /^[\x21-\x7e]{1,128}$/;

/** The request id: the caller's X-Request-Id when it is sane, a new UUID otherwise. */
export function requestId(req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
}

/**
 * Structured JSON logs (pretty in development): one line per request with id, route, status and
 * duration. Headers and bodies are not logged, so no password or token can reach the logs.
 */
export function loggerOptions(config: AppConfig): Params {
  const pretty = config.env.NODE_ENV === 'development' && process.stdout.isTTY;
  return {
    pinoHttp: {
      level: config.env.DEBUG ? 'debug' : config.env.LOG_LEVEL,
      genReqId: (req) => (req as IncomingMessage & { id?: string }).id ?? requestId(req),
      transport: pretty ? { target: 'pino-pretty', options: { singleLine: true } } : undefined,
      redact: {
        paths: ['req.headers.authorization', 'req.headers.cookie', '*.password', '*.accessToken'],
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
      customLogLevel: (_req, res, err) => (err || res.statusCode >= 500 ? 'error' : 'info'),
      autoLogging: { ignore: (req) => req.url === '/health/live' || req.url === '/metrics' },
    },
    forRoutes: ['*path'],
  };
}
