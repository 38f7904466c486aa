import { createParamDecorator, type ExecutionContext } from '@nestjs/common';

export type Role = 'USER' | 'ADMIN';

/** The authenticated caller, as the JWT guard leaves it on the request. */
export interface AuthUser {
  id: string;
  email: string;
  role: Role;
  /** Issued-at of the token, in seconds. */
  iat: number;
}

export const CurrentUser = createParamDecorator((_data: unknown, ctx: ExecutionContext): AuthUser => {
  const request = ctx.switchToHttp().getRequest<{ user?: AuthUser }>();
  if (!request.user) throw new Error('CurrentUser used on a route without authentication');
  return request.user;
});
