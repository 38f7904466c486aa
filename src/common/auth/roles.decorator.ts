import { SetMetadata } from '@nestjs/common';
import type { Role } from './auth-user';

export const ROLES = 'roles';
/** Restricts a route to callers with one of these roles (checked by the roles guard after the JWT guard). */
export const Roles = (...roles: Role[]): MethodDecorator & ClassDecorator => SetMetadata(ROLES, roles);
