import { Module } from '@nestjs/common';
import { MetricsModule } from '../../metrics/metrics.module';
import { EventRelay } from './event-relay';
import { RelayMetrics } from './relay.metrics';

/** The relay of the outbox to NATS JetStream (NATS_URL); idle without it. */
@Module({
  imports: [MetricsModule],
  providers: [EventRelay, RelayMetrics],
})
export class EventRelayModule {}
