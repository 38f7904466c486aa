import { SetMetadata } from '@nestjs/common';

export const AUTH_RATE_LIMITED = 'authRateLimited';
/**
 * Limits a route per client IP and per account (the `email` of the body) to RATE_LIMIT_AUTH_PER_MINUTE,
 * instead of per user: for login and register, where there is no user yet.
 */
export const AuthRateLimit = (): MethodDecorator & ClassDecorator => SetMetadata(AUTH_RATE_LIMITED, true);
