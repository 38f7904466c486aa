import { Module } from '@nestjs/common';
import { EventWakeupsModule } from '../events/relay/event-wakeups';
import { MetricsModule } from '../metrics/metrics.module';
import { WebhookDispatcher } from './webhook-dispatcher';
import { WebhookMetrics } from './webhook.metrics';
import { WebhooksController } from './webhooks.controller';
import { WebhooksRepository } from './webhooks.repository';
import { WebhooksService } from './webhooks.service';

/**
 * Webhooks (contract v1.1 "Events and webhooks"): the endpoints API and the background dispatcher that
 * delivers the sequenced events of the outbox (src/events) to them, signed per Standard Webhooks.
 */
@Module({
  imports: [MetricsModule, EventWakeupsModule],
  controllers: [WebhooksController],
  providers: [WebhooksRepository, WebhooksService, WebhookMetrics, WebhookDispatcher],
})
export class WebhooksModule {}
