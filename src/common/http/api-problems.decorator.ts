import { applyDecorators } from '@nestjs/common';
import { ApiResponse, type ResponseObject } from '@nestjs/swagger';
import { ERROR_CODES, type ErrorCode } from '../errors/error-codes';
import { problemType } from './problem-details';

/**
 * The codes a response can carry, as the contract spells them: an inactive transfer party is
 * ACCOUNT_INACTIVE (with 422), never ACCOUNT_INACTIVE_PARTY (see AppError.publicCode).
 */
export const PUBLIC_ERROR_CODES = (Object.keys(ERROR_CODES) as ErrorCode[]).filter(
  (code) => code !== 'ACCOUNT_INACTIVE_PARTY',
);

const DESCRIPTIONS: Record<number, string> = {
  400: 'Malformed or invalid input (VALIDATION_FAILED, MALFORMED_JSON, BAD_REQUEST)',
  401: 'Not authenticated (UNAUTHENTICATED): no bearer token, or an invalid or expired one',
  403: 'Authenticated but not allowed (FORBIDDEN, ACCOUNT_INACTIVE)',
  404: 'Not found, or not yours (NOT_FOUND)',
  409: 'Conflict',
  413: 'PAYLOAD_TOO_LARGE: the body is larger than BODY_LIMIT_BYTES',
  415: 'UNSUPPORTED_MEDIA_TYPE: a body that is not application/json in UTF-8',
  422: 'Refused by a business rule',
  429: 'RATE_LIMITED: too many requests, see Retry-After',
  503: 'SERVICE_UNAVAILABLE or REQUEST_TIMEOUT: a dependency is down, the instance is shutting down, or the request timed out, see Retry-After',
};

/** The codes a status carries when its description names none. */
const DEFAULT_CODES: Record<number, string[]> = {
  400: ['VALIDATION_FAILED', 'MALFORMED_JSON'],
  401: ['UNAUTHENTICATED'],
  403: ['FORBIDDEN'],
  404: ['NOT_FOUND'],
  409: ['CONCURRENCY_CONFLICT'],
  413: ['PAYLOAD_TOO_LARGE'],
  415: ['UNSUPPORTED_MEDIA_TYPE'],
  422: ['CONSTRAINT_VIOLATION'],
  429: ['RATE_LIMITED'],
  503: ['SERVICE_UNAVAILABLE', 'REQUEST_TIMEOUT'],
};

/** A detail as the service writes it, for the examples; the title stands in for codes not listed. */
const EXAMPLE_DETAILS: Partial<Record<string, string>> = {
  VALIDATION_FAILED: 'amount must be a decimal string with up to 14 integer digits and 4 decimals',
  MALFORMED_JSON: 'The body is not valid JSON',
  IDEMPOTENCY_KEY_MISSING: 'Send an Idempotency-Key header',
  IDEMPOTENCY_KEY_INVALID: 'Idempotency-Key must be 1 to 255 printable ASCII characters',
  UNAUTHENTICATED: 'Send a bearer token in the Authorization header',
  INVALID_CREDENTIALS: 'Invalid email or password',
  FORBIDDEN: 'This needs the ADMIN role',
  ACCOUNT_INACTIVE: 'The account is suspended',
  WALLET_NOT_FOUND: 'No such wallet',
  TRANSACTION_NOT_FOUND: 'No such transfer',
  IDEMPOTENCY_IN_PROGRESS: 'A request with this Idempotency-Key is still running; retry shortly',
  CONCURRENCY_CONFLICT: 'The wallets kept changing; retry',
  PAYLOAD_TOO_LARGE: 'The request body is larger than the limit',
  UNSUPPORTED_MEDIA_TYPE: 'Send the body as application/json',
  INSUFFICIENT_FUNDS: 'The wallet has 5.0000 available, 10.0000 is needed',
  RATE_LIMITED: 'Too many requests; retry in 1 s',
  SERVICE_UNAVAILABLE: 'The database is unavailable; retry shortly',
  REQUEST_TIMEOUT: 'The database did not answer in time',
};

/** The members some refusals add to the problem body. */
const EXAMPLE_EXTRAS: Partial<Record<string, Record<string, unknown>>> = {
  VALIDATION_FAILED: {
    errors: [
      { field: 'amount', message: 'must be a decimal string with up to 14 integer digits and 4 decimals' },
    ],
  },
  INSUFFICIENT_FUNDS: { transactionId: '0c9e8d7f-6a5b-4c3d-8e2f-1a0b9c8d7e6f' },
  BATCH_REFUSED: {
    errors: [
      { index: 2, code: 'INSUFFICIENT_FUNDS', detail: 'The wallet has 5.0000 available, 10.0000 is needed' },
    ],
  },
};

const EXAMPLE_REQUEST_ID = '6f1c2a4e-3c1b-4f7e-9a51-0e3b0f6a9d12';

/** The status a public code is sent with (ACCOUNT_INACTIVE: 403 from the guard, 422 for a transfer party). */
function statusesOf(code: string): number[] {
  return code === 'ACCOUNT_INACTIVE' ? [403, 422] : [ERROR_CODES[code as ErrorCode].status];
}

/** The codes a response of this status documents: those its description names, or the status's usual ones. */
export function problemCodes(status: number, description: string): string[] {
  const named = [...new Set(description.match(/\b[A-Z][A-Z_]*[A-Z]\b/g) ?? [])].filter(
    (word) => (PUBLIC_ERROR_CODES as string[]).includes(word) && statusesOf(word).includes(status),
  );
  return named.length > 0 ? named : (DEFAULT_CODES[status] ?? []);
}

/** A problem body exactly as the service builds it (problemFromAppError), for `code` at `status`. */
export function problemExample(status: number, code: string): Record<string, unknown> {
  const internal: ErrorCode =
    code === 'ACCOUNT_INACTIVE' && status === 422 ? 'ACCOUNT_INACTIVE_PARTY' : (code as ErrorCode);
  const title = ERROR_CODES[internal].title;
  return {
    ...(code === 'ACCOUNT_INACTIVE' && status === 422 ? EXAMPLE_EXTRAS.INSUFFICIENT_FUNDS : {}),
    ...EXAMPLE_EXTRAS[code],
    type: problemType(code),
    title,
    status,
    detail: EXAMPLE_DETAILS[code] ?? title,
    code,
    requestId: EXAMPLE_REQUEST_ID,
  };
}

/** The OpenAPI response object of a problem-details response: schema, one example per code. */
export function problemResponse(
  status: number,
  description = DESCRIPTIONS[status] ?? 'Error',
): ResponseObject {
  const codes = problemCodes(status, description);
  return {
    description,
    content: {
      'application/problem+json': {
        schema: { $ref: '#/components/schemas/ProblemDetailsDto' },
        ...(codes.length > 0
          ? {
              examples: Object.fromEntries(
                codes.map((code) => {
                  const value = problemExample(status, code);
                  return [code, { summary: String(value.title), value }];
                }),
              ),
            }
          : {}),
      },
    },
  };
}

/**
 * Declares problem-details responses for the given statuses, with the codes each can carry: a status
 * alone gets the usual description, `[status, description]` names its codes (UPPER_SNAKE words of the
 * description that are codes of that status), each with an example body.
 */
export function ApiProblems(...statuses: Array<number | [number, string]>): MethodDecorator & ClassDecorator {
  return applyDecorators(
    ...statuses.map((s) => {
      const [status, description] = Array.isArray(s) ? s : [s, DESCRIPTIONS[s] ?? 'Error'];
      const { content } = problemResponse(status, description);
      return ApiResponse({ status, description, content });
    }),
  );
}
