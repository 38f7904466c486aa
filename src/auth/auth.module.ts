import { Logger, Module } from '@nestjs/common';
import { APP_GUARD, Reflector } from '@nestjs/core';
import { ThrottlerModule } from '@nestjs/throttler';
import type Redis from 'ioredis';
import { AppConfig } from '../config/app-config';
import { RedisModule } from '../redis/redis.module';
import { REDIS } from '../redis/redis.provider';
import { UsersModule } from '../users/users.module';
import { AccessTokens } from './access-tokens';
import { AdminBootstrapService } from './admin-bootstrap.service';
import { AuthController } from './auth.controller';
import { AuthService } from './auth.service';
import { JwtAuthGuard } from './jwt-auth.guard';
import { JwtStrategy } from './jwt.strategy';
import { PasswordHasher } from './password-hasher';
import { RolesGuard } from './roles.guard';
import { FailOpenThrottlerStorage, waitForRedis } from './throttling/fail-open-throttler.storage';
import { RateLimitGuard, throttlers } from './throttling/rate-limit.guard';

@Module({
  imports: [
    UsersModule,
    ThrottlerModule.forRootAsync({
      imports: [RedisModule],
      inject: [AppConfig, REDIS, Reflector],
      useFactory: async (config: AppConfig, redis: Redis | null, reflector: Reflector) => {
        if (redis && !(await waitForRedis(redis, 2000))) {
          new Logger('RateLimit').warn(
            'Redis not reachable at start-up: rate limits count in memory until it is',
          );
        }
        return {
          throttlers: throttlers(config, reflector),
          storage: new FailOpenThrottlerStorage(redis),
          // Retry-After comes with the problem-details refusal; no X-RateLimit-* headers on every response.
          setHeaders: false,
        };
      },
    }),
  ],
  controllers: [AuthController],
  providers: [
    AuthService,
    AccessTokens,
    PasswordHasher,
    JwtStrategy,
    AdminBootstrapService,
    // Global guards run in this order: who is calling, how often, then what they may do.
    { provide: APP_GUARD, useClass: JwtAuthGuard },
    { provide: APP_GUARD, useClass: RateLimitGuard },
    { provide: APP_GUARD, useClass: RolesGuard },
  ],
})
export class AuthModule {}
