import { Controller, Get, Header, Inject, Res } from '@nestjs/common';
import { ApiExcludeEndpoint, ApiOkResponse, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import {
  HealthCheck,
  HealthCheckService,
  HealthIndicatorService,
  TypeOrmHealthIndicator,
} from '@nestjs/terminus';
import type { FastifyReply } from 'fastify';
import type Redis from 'ioredis';
import { Public } from '../auth/public.decorator';
import { LifecycleService } from './lifecycle.service';
import { MetricsService } from './metrics.service';
import { REDIS } from './redis.provider';

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
  ) {}

  @Get('health/live')
  @ApiOkResponse({ description: 'The process is running' })
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  @Get('health/ready')
  @HealthCheck()
  @ApiOkResponse({ description: 'The database (and Redis, when configured) answer' })
  @ApiServiceUnavailableResponse({ description: 'A dependency is down, or the instance is shutting down' })
  ready() {
    return this.health.check([
      () => {
        const indicator = this.indicators.check('instance');
        return this.lifecycle.isShuttingDown ? indicator.down({ reason: 'shutting down' }) : indicator.up();
      },
      () => this.db.pingCheck('database', { timeout: 1500 }),
      ...(this.redis ? [() => this.pingRedis(this.redis as Redis)] : []),
    ]);
  }

  @Get('metrics')
  @ApiExcludeEndpoint()
  @Header('Cache-Control', 'no-store')
  async prometheus(@Res() reply: FastifyReply): Promise<void> {
    const body = await this.metrics.registry.metrics();
    void reply.header('Content-Type', this.metrics.registry.contentType).send(body);
  }

  private async pingRedis(client: Redis) {
    const indicator = this.indicators.check('redis');
    try {
      await client.ping();
      return indicator.up();
    } catch (err) {
      return indicator.down({ message: err instanceof Error ? err.message : 'unreachable' });
    }
  }
}
