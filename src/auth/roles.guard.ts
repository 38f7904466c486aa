import { type CanActivate, type ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AppError } from '../common/errors/error-codes';
import type { AuthUser, Role } from '../common/auth/auth-user';
import { ROLES } from '../common/auth/roles.decorator';

/** Global guard, after the JWT guard: a route marked @Roles(...) needs one of those roles (403 FORBIDDEN). */
@Injectable()
export class RolesGuard implements CanActivate {
  constructor(private readonly reflector: Reflector) {}

  canActivate(context: ExecutionContext): boolean {
    const roles = this.reflector.getAllAndOverride<Role[] | undefined>(ROLES, [
      context.getHandler(),
      context.getClass(),
    ]);
    if (!roles || roles.length === 0) return true;
    const user = context.switchToHttp().getRequest<{ user?: AuthUser }>().user;
    if (!user || !roles.includes(user.role))
      throw new AppError('FORBIDDEN', 'This needs the ' + roles.join(' or ') + ' role');
    return true;
  }
}
