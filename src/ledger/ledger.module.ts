import { Module } from '@nestjs/common';
import { EventWakeupsModule } from '../events/relay/event-wakeups';
import { LedgerAppender } from './ledger-appender';
import { LedgerController } from './ledger.controller';
import { LedgerRepository } from './ledger.repository';
import { LedgerService } from './ledger.service';
import { LedgerSigner } from './ledger-signer';

/**
 * The verifiable ledger (contract v1.2, docs/LEDGER.md): an RFC 9162 Merkle tree over the numbered events,
 * its appender and signed checkpoints, and the proof endpoints. It reads events only through the view
 * `numbered_events`; nothing else imports it.
 */
@Module({
  imports: [EventWakeupsModule],
  controllers: [LedgerController],
  providers: [LedgerSigner, LedgerAppender, LedgerRepository, LedgerService],
})
export class LedgerModule {}
