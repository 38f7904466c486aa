import { Module } from '@nestjs/common';
import { ReplicasModule } from '../database/replicas.module';
import { EventSequencer } from './event-sequencer';
import { EventsController } from './events.controller';
import { EventsRepository } from './events.repository';
import { EventsService } from './events.service';
import { OutboxModule } from './outbox-signal';
import { EventRelayModule } from './relay/event-relay.module';

/**
 * Contract v1.1 events: the outbox that money and account changes write into (outbox.ts, used by the
 * engine's write and by status changes), the sequencer that numbers committed events in commit order,
 * and the events API. Relays (NATS, webhooks) read numbered events through EventsRepository.
 */
@Module({
  imports: [EventRelayModule, ReplicasModule, OutboxModule],
  controllers: [EventsController],
  providers: [EventsRepository, EventsService, EventSequencer],
  exports: [EventsRepository],
})
export class EventsModule {}
