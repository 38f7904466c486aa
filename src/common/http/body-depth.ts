import { AppError } from '../errors/error-codes';

/** No request of the contract nests deeper than this; anything deeper is refused before any code walks it. */
export const MAX_BODY_DEPTH = 16;

/** Depth of a parsed JSON value, measured without recursion (a hostile body cannot overflow the stack). */
export function jsonDepth(value: unknown, limit = MAX_BODY_DEPTH): number {
  let max = 0;
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop() as [unknown, number];
    if (node === null || typeof node !== 'object') continue;
    max = Math.max(max, depth);
    if (max > limit) return max;
    for (const child of Object.values(node as Record<string, unknown>)) stack.push([child, depth + 1]);
  }
  return max;
}

export function assertBodyDepth(body: unknown): void {
  if (jsonDepth(body) > MAX_BODY_DEPTH) {
    throw new AppError('VALIDATION_FAILED', `The body nests deeper than ${MAX_BODY_DEPTH} levels`, {
      errors: [{ field: 'body', message: `nests deeper than ${MAX_BODY_DEPTH} levels` }],
    });
  }
}
