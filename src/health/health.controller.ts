import { Controller, Get, Header, Inject, Res } from '@nestjs/common';
import { ApiExcludeEndpoint, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import {
  HealthCheck,
  type HealthCheckResult,
  HealthCheckService,
  type HealthIndicatorResult,
  HealthIndicatorService,
  TypeOrmHealthIndicator,
} from '@nestjs/terminus';
import type { FastifyReply } from 'fastify';
import type Redis from 'ioredis';
import { Public } from '../common/auth/public.decorator';
import { ApiProblems } from '../common/http/api-problems.decorator';
import { ReadRouter } from '../database/replicas';
import { LifecycleService } from '../lifecycle/lifecycle.service';
import { MetricsService } from '../metrics/metrics.service';
import { REDIS } from '../redis/redis.provider';

@ApiTags('operations')
@Public()
@Controller()
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly db: TypeOrmHealthIndicator,
    private readonly indicators: HealthIndicatorService,
    private readonly lifecycle: LifecycleService,
    private readonly metrics: MetricsService,
    @Inject(REDIS) private readonly redis: Redis | null,
    private readonly replicas: ReadRouter,
  ) {}

  @Get('health/live')
  @ApiOperation({ operationId: 'getLiveness', summary: 'Liveness: 200 while the process runs' })
  @ApiOkResponse({
    description: 'The process is running',
    schema: {
      type: 'object',
      required: ['status'],
      properties: { status: { type: 'string', enum: ['ok'] } },
    },
    example: { status: 'ok' },
  })
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  @Get('health/ready')
  // Documented below: terminus's own documentation gives the 503 a body this service never sends.
  @HealthCheck({ noCache: true, swaggerDocumentation: false })
  @ApiOperation({
    operationId: 'getReadiness',
    summary: 'Readiness: 200 when the database answers and the instance is not shutting down',
  })
  @ApiOkResponse({
    description:
      'The database answers and the instance is not shutting down. Redis, when configured, is reported ' +
      'in `details.redis` (and `info.redis` when up) as up or down, but a Redis outage alone keeps ' +
      'readiness at 200: rate limiting fails open without it (see the `redis_up` metric)',
    schema: { $ref: '#/components/schemas/ReadinessDto' },
    example: {
      status: 'ok',
      info: { instance: { status: 'up' }, database: { status: 'up' } },
      error: {},
      details: { instance: { status: 'up' }, database: { status: 'up' } },
    },
  })
  @ApiProblems([
    503,
    'SERVICE_UNAVAILABLE: the database is down, or the instance is shutting down (never because of Redis alone)',
  ])
  async ready(): Promise<HealthCheckResult> {
    // Redis is optional: without it rate limits count per instance (FailOpenThrottlerStorage), so it
    // must not take the instance out of rotation. It is checked beside the required checks, not in them.
    const redis = this.redis ? this.pingRedis(this.redis) : undefined; // never rejects
    const result = await this.health.check([
      () => {
        const indicator = this.indicators.check('instance');
        return this.lifecycle.isShuttingDown ? indicator.down({ reason: 'shutting down' }) : indicator.up();
      },
      () => this.db.pingCheck('database', { timeout: 1500 }),
    ]);
    const redisResult = await redis;
    const optional: HealthIndicatorResult = { ...redisResult, ...this.replicaResult() };
    const up = Object.fromEntries(Object.entries(optional).filter(([, v]) => v.status === 'up'));
    return {
      ...result,
      info: { ...result.info, ...up },
      details: { ...result.details, ...optional },
    };
  }

  @Get('metrics')
  @ApiExcludeEndpoint()
  @Header('Cache-Control', 'no-store')
  async prometheus(@Res() reply: FastifyReply): Promise<void> {
    const body = await this.metrics.registry.metrics();
    void reply.header('Content-Type', this.metrics.registry.contentType).send(body);
  }

  /**
   * Read replicas, when configured: each one's state and lag as of its last check. Like Redis, never a
   * reason for 503: reads fall back to the primary while no replica serves.
   */
  private replicaResult(): HealthIndicatorResult<'replicas'> | undefined {
    if (!this.replicas.enabled) return undefined;
    const replicas = this.replicas.status();
    const indicator = this.indicators.check('replicas');
    return replicas.some((r) => r.state === 'streaming')
      ? indicator.up({ required: false, replicas })
      : indicator.down({ required: false, replicas });
  }

  /** Never throws; keeps the `redis_up` gauge current between the client's connection events. */
  private async pingRedis(client: Redis): Promise<HealthIndicatorResult<'redis'>> {
    const indicator = this.indicators.check('redis');
    try {
      await client.ping();
      this.metrics.redisUp.set(1);
      return indicator.up({ required: false });
    } catch (err) {
      this.metrics.redisUp.set(0);
      return indicator.down({ required: false, message: err instanceof Error ? err.message : 'unreachable' });
    }
  }
}
