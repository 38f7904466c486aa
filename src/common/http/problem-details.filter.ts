import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppError, type ErrorCode } from '../errors/error-codes';
import { PROBLEM_CONTENT_TYPE, problemFromAppError } from './problem-details';

/** Nest's own HTTP exceptions (404 for an unknown route, 429 from the throttler...) as codes. */
const HTTP_STATUS_CODES: Record<number, ErrorCode> = {
  400: 'BAD_REQUEST',
  401: 'UNAUTHENTICATED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  413: 'PAYLOAD_TOO_LARGE',
  // Nest wraps Fastify's own 415 (no parser for the Content-Type) in a plain HttpException.
  415: 'UNSUPPORTED_MEDIA_TYPE',
  429: 'RATE_LIMITED',
  503: 'SERVICE_UNAVAILABLE',
};

export const UNSUPPORTED_MEDIA_TYPE_DETAIL = 'Send the body as application/json';

/**
 * Errors Fastify raises before a handler runs (body parsing, size limit). Nest routes them to this filter
 * through its own Fastify error handler.
 */
function fastifyError(error: { code: string; statusCode?: number }): AppError | undefined {
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new AppError('PAYLOAD_TOO_LARGE', 'The request body is larger than the limit');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new AppError('UNSUPPORTED_MEDIA_TYPE', UNSUPPORTED_MEDIA_TYPE_DETAIL);
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new AppError('BAD_REQUEST', 'The body does not match its Content-Length');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new AppError('MALFORMED_JSON', 'The body is not valid JSON');
    default:
      return error.statusCode && error.statusCode >= 400 && error.statusCode < 500
        ? new AppError('BAD_REQUEST', 'The request could not be read')
        : undefined;
  }
}

/**
 * Maps failures of a dependency (the database) that are conditions, not bugs, to an AppError; undefined
 * for anything else. Given by the app module (database/pg-errors): common/ sits below database/.
 */
export type DependencyErrorMapper = (error: unknown) => AppError | undefined;

/** Turns any error into an AppError: known ones keep their meaning, the rest become INTERNAL_ERROR. */
export function toAppError(exception: unknown, mapDependencyError: DependencyErrorMapper): AppError {
  if (exception instanceof AppError) return exception;
  const e = exception as { code?: unknown; statusCode?: unknown } | null;
  if (typeof e?.code === 'string' && e.code.startsWith('FST_')) {
    const mapped = fastifyError(e as { code: string; statusCode?: number });
    if (mapped) return mapped;
  }
  if (exception instanceof HttpException) {
    const status = exception.getStatus();
    // Nest turns a body-parser SyntaxError into a BadRequestException carrying the parser's message.
    if (status === 400 && /JSON/.test(plainMessage(exception, 'BAD_REQUEST'))) {
      return new AppError('MALFORMED_JSON', 'The body is not valid JSON');
    }
    const code = HTTP_STATUS_CODES[status];
    if (code) {
      const retryAfter = code === 'RATE_LIMITED' || code === 'SERVICE_UNAVAILABLE' ? 1 : undefined;
      const detail =
        status === 404
          ? 'The requested resource does not exist'
          : status === 415
            ? UNSUPPORTED_MEDIA_TYPE_DETAIL
            : plainMessage(exception, code);
      return new AppError(code, detail, retryAfter ? { retryAfter } : {});
    }
    // Any other client error Fastify or Nest raises (411, 414, 431...) is the client's, never a 500.
    if (status >= 400 && status < 500) return new AppError('BAD_REQUEST', 'The request could not be read');
  }
  const mapped = mapDependencyError(exception);
  if (mapped) return mapped;
  return new AppError('INTERNAL_ERROR', 'An unexpected error occurred');
}

function plainMessage(exception: HttpException, code: ErrorCode): string {
  const response = exception.getResponse();
  const message =
    typeof response === 'object' && response && 'message' in response ? response.message : response;
  return typeof message === 'string' && message.length < 200
    ? message
    : code.toLowerCase().replace(/_/g, ' ');
}

export function sendProblem(reply: FastifyReply, error: AppError, requestId: string): void {
  const body = problemFromAppError(error, requestId);
  if (error.extras.retryAfter !== undefined)
    void reply.header('Retry-After', String(error.extras.retryAfter));
  void reply.status(body.status).header('Content-Type', PROBLEM_CONTENT_TYPE).send(JSON.stringify(body));
}

/**
 * The one edge where errors become HTTP: domain errors keep their code, Nest's HTTP exceptions get one,
 * database failures are mapped (pg-errors), and anything else is a plain 500 with the request id while
 * the cause is logged. No stack, SQL or secret reaches the body.
 */
@Catch()
export class ProblemDetailsFilter implements ExceptionFilter {
  private readonly logger = new Logger('Errors');

  constructor(private readonly mapDependencyError: DependencyErrorMapper) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const ctx = host.switchToHttp();
    const reply = ctx.getResponse<FastifyReply>();
    const request = ctx.getRequest<FastifyRequest>();
    const error = toAppError(exception, this.mapDependencyError);
    if (error.code === 'INTERNAL_ERROR') {
      this.logger.error({ err: exception, requestId: request.id }, 'unhandled error');
    } else if (error.status >= 500) {
      this.logger.warn({ err: exception, requestId: request.id, code: error.code }, 'dependency failure');
    }
    if (reply.sent) return;
    sendProblem(reply, error, String(request.id));
  }
}
