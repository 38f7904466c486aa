import { createHash } from 'node:crypto';
import { type ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import {
  InjectThrottlerOptions,
  InjectThrottlerStorage,
  ThrottlerGuard,
  type ThrottlerLimitDetail,
  type ThrottlerModuleOptions,
  type ThrottlerOptions,
  type ThrottlerStorage,
} from '@nestjs/throttler';
import { AppError } from '../../common/errors/error-codes';
import { AppConfig } from '../../config/app-config';
import { normaliseEmail } from '../../users/email';
import type { AuthUser } from '../../common/auth/auth-user';
import { AUTH_RATE_LIMITED } from './auth-rate-limit.decorator';

export const AUTH_BY_IP = 'auth-ip';
export const AUTH_BY_ACCOUNT = 'auth-account';
export const PER_USER = 'user';

interface ThrottledRequest {
  ip?: string;
  body?: unknown;
  user?: AuthUser;
}

/**
 * The three limits. Login and register (@AuthRateLimit) count per client IP and per account, so neither
 * one address guessing many passwords nor many addresses guessing one account's get far; every other
 * route counts per authenticated user, across all routes. A limit of 0 turns its throttler off.
 */
export function throttlers(config: AppConfig, reflector: Reflector): ThrottlerOptions[] {
  const authLimit = config.env.RATE_LIMIT_AUTH_PER_MINUTE;
  const userLimit = config.env.RATE_LIMIT_USER_PER_SECOND;
  const isAuthRoute = (context: ExecutionContext): boolean =>
    reflector.getAllAndOverride<boolean | undefined>(AUTH_RATE_LIMITED, [
      context.getHandler(),
      context.getClass(),
    ]) === true;
  const request = (context: ExecutionContext): ThrottledRequest =>
    context.switchToHttp().getRequest<ThrottledRequest>();
  return [
    {
      name: AUTH_BY_IP,
      ttl: 60_000,
      limit: authLimit,
      skipIf: (context) => authLimit === 0 || !isAuthRoute(context),
      // Fastify's request.ip: the socket's peer, or the client a trusted proxy names in X-Forwarded-For
      // (TRUST_PROXY, create-app.ts). Never the header itself, which any client can write.
      getTracker: (req: ThrottledRequest) => req.ip ?? 'unknown',
    },
    {
      name: AUTH_BY_ACCOUNT,
      ttl: 60_000,
      limit: authLimit,
      skipIf: (context) => authLimit === 0 || !isAuthRoute(context),
      // The guard runs before validation: a body without a usable email shares one bucket.
      getTracker: (req: ThrottledRequest) => {
        const email = (req.body as { email?: unknown } | undefined)?.email;
        return typeof email === 'string' ? normaliseEmail(email) : '';
      },
    },
    {
      name: PER_USER,
      ttl: 1_000,
      limit: userLimit,
      // Public routes other than login and register (health, metrics) are not limited per user.
      skipIf: (context) => userLimit === 0 || isAuthRoute(context) || !request(context).user,
      getTracker: (req: ThrottledRequest) => req.user?.id ?? '',
    },
  ];
}

/**
 * Global guard (APP_GUARD) after the JWT guard, so that request.user is known. A refusal is
 * 429 RATE_LIMITED with Retry-After in seconds, as problem details.
 */
@Injectable()
export class RateLimitGuard extends ThrottlerGuard {
  private readonly prefix: string;

  constructor(
    @InjectThrottlerOptions() options: ThrottlerModuleOptions,
    @InjectThrottlerStorage() storage: ThrottlerStorage,
    reflector: Reflector,
    config: AppConfig,
  ) {
    super(options, storage, reflector);
    this.prefix = config.env.RATE_LIMIT_REDIS_PREFIX;
  }

  /**
   * Per-user counters are shared by all routes (the limit is per user, not per endpoint); the auth ones
   * are per route. The tracker is hashed so that no email address is stored in Redis.
   */
  protected override generateKey(context: ExecutionContext, tracker: string, name: string): string {
    if (name === PER_USER) return `${this.prefix}${name}:${tracker}`;
    const digest = createHash('sha256').update(tracker).digest('base64url');
    return `${this.prefix}${name}:${context.getHandler().name}:${digest}`;
  }

  protected override throwThrottlingException(
    _context: ExecutionContext,
    detail: ThrottlerLimitDetail,
  ): Promise<void> {
    const retryAfter = Math.max(1, detail.timeToBlockExpire);
    throw new AppError('RATE_LIMITED', `Too many requests; retry in ${retryAfter} s`, { retryAfter });
  }
}
