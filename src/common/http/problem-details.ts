import { AppError, ERROR_CODES, type ErrorCode, type FieldError } from '../errors/error-codes';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

export interface ProblemDetails {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  requestId: string;
  errors?: FieldError[];
  [extra: string]: unknown;
}

export function problemType(code: string): string {
  return `https://hfts.dev/problems/${code.toLowerCase().replace(/_/g, '-')}`;
}

export function problemFromAppError(error: AppError, requestId: string): ProblemDetails {
  const def = ERROR_CODES[error.code];
  return {
    ...error.extras.fields,
    type: problemType(error.publicCode),
    title: def.title,
    status: def.status,
    detail: error.detail,
    code: error.publicCode,
    requestId,
    ...(error.extras.errors ? { errors: error.extras.errors } : {}),
  };
}

export function problem(code: ErrorCode, detail: string, requestId: string): ProblemDetails {
  return problemFromAppError(new AppError(code, detail), requestId);
}
