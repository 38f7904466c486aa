import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppError, type ErrorCode } from '../errors/error-codes';
import { PROBLEM_CONTENT_TYPE, problemFromAppError } from './problem-details';
import { mapDatabaseError } from '../../database/pg-errors';

/** Nest's own HTTP exceptions (404 for an unknown route, 429 from the throttler...) as codes. */
const HTTP_STATUS_CODES: Record<number, ErrorCode> = {
  400: 'BAD_REQUEST',
  401: 'UNAUTHENTICATED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  429: 'RATE_LIMITED',
  503: 'SERVICE_UNAVAILABLE',
};

/** Turns any error into an AppError: known ones keep their meaning, the rest become INTERNAL_ERROR. */
export function toAppError(exception: unknown): AppError {
  if (exception instanceof AppError) return exception;
  if (exception instanceof HttpException) {
    const status = exception.getStatus();
    const code = HTTP_STATUS_CODES[status];
    if (code) {
      const retryAfter = code === 'RATE_LIMITED' ? 1 : code === 'SERVICE_UNAVAILABLE' ? 1 : undefined;
      const detail = status === 404 ? 'The requested resource does not exist' : plainMessage(exception, code);
      return new AppError(code, detail, retryAfter ? { retryAfter } : {});
    }
  }
  const mapped = mapDatabaseError(exception);
  if (mapped) return mapped;
  return new AppError('INTERNAL_ERROR', 'An unexpected error occurred');
}

function plainMessage(exception: HttpException, code: ErrorCode): string {
  const response = exception.getResponse();
  const message = typeof response === 'object' && response && 'message' in response ? response.message : response;
  return typeof message === 'string' && message.length < 200 ? message : code.toLowerCase().replace(/_/g, ' ');
}

export function sendProblem(reply: FastifyReply, error: AppError, requestId: string): void {
  const body = problemFromAppError(error, requestId);
  if (error.extras.retryAfter !== undefined) void reply.header('Retry-After', String(error.extras.retryAfter));
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

  catch(exception: unknown, host: ArgumentsHost): void {
    const ctx = host.switchToHttp();
    const reply = ctx.getResponse<FastifyReply>();
    const request = ctx.getRequest<FastifyRequest>();
    const error = toAppError(exception);
    if (error.code === 'INTERNAL_ERROR') {
      this.logger.error({ err: exception, requestId: request.id }, 'unhandled error');
    } else if (error.status >= 500) {
      this.logger.warn({ err: exception, requestId: request.id, code: error.code }, 'dependency failure');
    }
    if (reply.sent) return;
    sendProblem(reply, error, String(request.id));
  }
}
