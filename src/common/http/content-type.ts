import type { IncomingHttpHeaders } from 'node:http';
import { AppError } from '../errors/error-codes';
import { UNSUPPORTED_MEDIA_TYPE_DETAIL } from './problem-details.filter';

/** As Fastify decides it: a body is coming when the request is chunked or has a non-zero length. */
export function hasBody(headers: IncomingHttpHeaders): boolean {
  return (
    headers['transfer-encoding'] !== undefined ||
    (headers['content-length'] !== undefined && headers['content-length'] !== '0')
  );
}

/**
 * Every body the API reads is JSON in UTF-8 (RFC 8259). Checked before Fastify picks a parser: it would
 * otherwise read text/plain and form bodies (and a body sent with no Content-Type) as strings or objects
 * that reached validation as something else, and answer the types it has no parser for with a 415 that
 * came out as a 500. Contract v1.1: 415 UNSUPPORTED_MEDIA_TYPE.
 */
export function assertJsonBody(headers: IncomingHttpHeaders): void {
  if (!hasBody(headers)) return;
  const [mediaType, ...params] = (headers['content-type'] ?? '').split(';');
  const charset = params
    .map((p) => p.trim().toLowerCase())
    .find((p) => p.startsWith('charset='))
    ?.slice('charset='.length)
    .replace(/^"(.*)"$/, '$1');
  if (
    mediaType.trim().toLowerCase() !== 'application/json' ||
    (charset !== undefined && charset !== 'utf-8')
  ) {
    throw new AppError('UNSUPPORTED_MEDIA_TYPE', UNSUPPORTED_MEDIA_TYPE_DETAIL);
  }
}
