import { Module } from '@nestjs/common';
import { MetricsModule } from '../../metrics/metrics.module';
import { EventRelay } from './event-relay';
import { EventWakeupsModule } from './event-wakeups';
import { RelayMetrics } from './relay.metrics';

/** The relay of the outbox to NATS JetStream (NATS_URL); idle without it. */
@Module({
  imports: [MetricsModule, EventWakeupsModule],
  providers: [EventRelay, RelayMetrics],
})
export class EventRelayModule {}
