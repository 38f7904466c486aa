import { applyDecorators } from '@nestjs/common';
import { ApiResponse } from '@nestjs/swagger';

const DESCRIPTIONS: Record<number, string> = {
  400: 'Malformed or invalid input (VALIDATION_FAILED, MALFORMED_JSON, IDEMPOTENCY_KEY_MISSING...)',
  401: 'Not authenticated (UNAUTHENTICATED, INVALID_CREDENTIALS)',
  403: 'Authenticated but not allowed (FORBIDDEN, ACCOUNT_INACTIVE)',
  404: 'Not found, or not yours',
  409: 'Conflict',
  413: 'Body too large (PAYLOAD_TOO_LARGE)',
  415: 'The body is not application/json (UNSUPPORTED_MEDIA_TYPE)',
  422: 'Refused by a business rule',
  429: 'Rate limited (RATE_LIMITED), see Retry-After',
  503: 'A dependency is down or the request timed out, see Retry-After',
};

/** Declares problem-details responses for the given statuses, with the codes each can carry. */
export function ApiProblems(...statuses: Array<number | [number, string]>): MethodDecorator & ClassDecorator {
  return applyDecorators(
    ...statuses.map((s) => {
      const [status, description] = Array.isArray(s) ? s : [s, DESCRIPTIONS[s] ?? 'Error'];
      return ApiResponse({
        status,
        description,
        content: {
          'application/problem+json': { schema: { $ref: '#/components/schemas/ProblemDetailsDto' } },
        },
      });
    }),
  );
}
