import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { HealthModule } from '../health/health.module';
import { WalletsModule } from '../wallets/wallets.module';
import { HoldExpiryJob } from './hold-expiry.job';
import { IdempotencyKey } from './idempotency-key.entity';
import { LedgerEntry } from './ledger-entry.entity';
import { MovementsRepository } from './movements.repository';
import { Transaction } from './transaction.entity';
import { TransactionsRepository } from './transactions.repository';
import { TransactionsService } from './transactions.service';
import { TransferService } from './transfer.service';
import { TransfersController } from './transfers.controller';
import { WalletMovementsController } from './wallet-movements.controller';

@Module({
  imports: [
    TypeOrmModule.forFeature([Transaction, LedgerEntry, IdempotencyKey]),
    WalletsModule,
    HealthModule,
  ],
  controllers: [TransfersController, WalletMovementsController],
  providers: [
    MovementsRepository,
    TransactionsRepository,
    TransferService,
    TransactionsService,
    HoldExpiryJob,
  ],
  exports: [TransferService],
})
export class TransfersModule {}
