import { Module } from '@nestjs/common';
import { ReplicasModule } from '../database/replicas.module';
import { OutboxModule } from '../events/outbox-signal';
import { MetricsModule } from '../metrics/metrics.module';
import { WalletsModule } from '../wallets/wallets.module';
import { CsvExports } from './csv-exports';
import { AttemptRunner } from './engine/attempt-runner';
import { ENGINE_STORE } from './engine/engine.port';
import { EngineRepository } from './engine/engine.repository';
import { MovementEngine } from './engine/movement-engine';
import { WriteCombiner } from './engine/write-combiner';
import { HoldExpiryJob } from './hold-expiry.job';
import { TransactionsRepository } from './transactions.repository';
import { TransactionsService } from './transactions.service';
import { TransferService } from './transfer.service';
import { TransfersController } from './transfers.controller';
import { WalletMovementsController } from './wallet-movements.controller';

/**
 * Money movements and their history. The engine (engine/) is the only writer of balances; its tables
 * (transactions, ledger_entries, idempotency_keys) are reached by raw SQL only, so they have no entities.
 */
@Module({
  imports: [WalletsModule, MetricsModule, ReplicasModule, OutboxModule],
  controllers: [TransfersController, WalletMovementsController],
  providers: [
    EngineRepository,
    { provide: ENGINE_STORE, useExisting: EngineRepository },
    MovementEngine,
    AttemptRunner,
    WriteCombiner,
    TransactionsRepository,
    TransferService,
    TransactionsService,
    CsvExports,
    HoldExpiryJob,
  ],
  exports: [TransferService],
})
export class TransfersModule {}
