import { Module } from '@nestjs/common';
import { ReplicasModule } from '../database/replicas.module';
import { MetricsModule } from '../metrics/metrics.module';
import { WalletsModule } from '../wallets/wallets.module';
import { AttemptRunner } from './engine/attempt-runner';
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
  imports: [WalletsModule, MetricsModule, ReplicasModule],
  controllers: [TransfersController, WalletMovementsController],
  providers: [
    EngineRepository,
    MovementEngine,
    AttemptRunner,
    WriteCombiner,
    TransactionsRepository,
    TransferService,
    TransactionsService,
    HoldExpiryJob,
  ],
  exports: [TransferService],
})
export class TransfersModule {}
