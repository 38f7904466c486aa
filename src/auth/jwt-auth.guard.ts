import { type CanActivate, type ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AppError } from '../common/errors/error-codes';
import type { AuthUser } from '../common/auth/auth-user';
import { JwtStrategy } from './jwt.strategy';
import { IS_PUBLIC } from '../common/auth/public.decorator';
import { STATUS_CHECKED_BY_HANDLER } from '../common/auth/status-checked-by-handler.decorator';

/**
 * Global guard (APP_GUARD): every route needs a valid bearer token unless marked @Public(). Leaves an
 * AuthUser on request.user. Missing or invalid token: 401 UNAUTHENTICATED; inactive account: 403.
 *
 * It does what @nestjs/passport's AuthGuard('jwt') does, but through the strategy's own Authenticator
 * (see JwtStrategy.getPassportInstance): AuthGuard calls passport's process-wide `passport.authenticate`,
 * where the last app built in a process (the tests build several) would check every app's tokens.
 */
@Injectable()
export class JwtAuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly strategy: JwtStrategy,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const isPublic = this.reflector.getAllAndOverride<boolean | undefined>(IS_PUBLIC, [
      context.getHandler(),
      context.getClass(),
    ]);
    if (isPublic) return true;
    const http = context.switchToHttp();
    const request = http.getRequest<{ user?: AuthUser; statusCheckedByHandler?: boolean }>();
    request.statusCheckedByHandler =
      this.reflector.get<boolean | undefined>(STATUS_CHECKED_BY_HANDLER, context.getHandler()) === true;
    request.user = await new Promise<AuthUser>((resolve, reject) => {
      const authenticate = this.strategy
        .getPassportInstance()
        .authenticate('jwt', { session: false }, (err: unknown, user: AuthUser | false, info: unknown) => {
          try {
            resolve(this.toUser(err, user, info));
          } catch (error) {
            reject(error instanceof Error ? error : new AppError('UNAUTHENTICATED', 'Not authenticated'));
          }
        }) as (req: unknown, res: unknown, next: (err?: unknown) => void) => void;
      authenticate(request, http.getResponse(), (err?: unknown) =>
        reject(err instanceof Error ? err : new AppError('UNAUTHENTICATED', 'Not authenticated')),
      );
    });
    return true;
  }

  /**
   * `err` is what validate() threw (ACCOUNT_INACTIVE, or a database failure that the filter maps to
   * 503): passed on as is. `info` is why the token was refused; the body says little on purpose.
   */
  private toUser(err: unknown, user: AuthUser | false, info: unknown): AuthUser {
    if (err) throw err instanceof Error ? err : new AppError('UNAUTHENTICATED', 'Not authenticated');
    if (!user) {
      const { name, message } = (info ?? {}) as { name?: string; message?: string };
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
