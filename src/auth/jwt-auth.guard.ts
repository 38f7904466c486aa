import { type ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AuthGuard } from '@nestjs/passport';
import { AppError } from '../common/errors/error-codes';
import type { AuthUser } from './auth-user';
import { IS_PUBLIC } from './public.decorator';

/**
 * Global guard (APP_GUARD): every route needs a valid bearer token unless marked @Public(). Leaves an
 * AuthUser on request.user. Missing or invalid token: 401 UNAUTHENTICATED; inactive account: 403.
 */
@Injectable()
export class JwtAuthGuard extends AuthGuard('jwt') {
  constructor(private readonly reflector: Reflector) {
    super();
  }

  override canActivate(context: ExecutionContext): Promise<boolean> | boolean {
    const isPublic = this.reflector.getAllAndOverride<boolean | undefined>(IS_PUBLIC, [context.getHandler(), context.getClass()]);
    if (isPublic) return true;
    return super.canActivate(context) as Promise<boolean>;
  }

  /**
   * `err` is what validate() threw (ACCOUNT_INACTIVE, or a database failure that the filter maps to
   * 503): passed on as is. `info` is why the token was refused; the body says little on purpose.
   */
  override handleRequest<TUser = AuthUser>(err: unknown, user: TUser | false, info: unknown): TUser {
    if (err) throw err;
    if (!user) {
      const name = (info as { name?: string; message?: string } | undefined)?.name;
      const message = (info as { message?: string } | undefined)?.message;
      const detail =
        message === 'No auth token'
          ? 'Send a bearer token in the Authorization header'
          : name === 'TokenExpiredError'
            ? 'The token has expired; log in again'
            : 'The token is not valid';
      throw new AppError('UNAUTHENTICATED', detail);
    }
    return user;
  }
}
