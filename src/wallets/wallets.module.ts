import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { LimitsController } from './limits/limits.controller';
import { LimitsRepository } from './limits/limits.repository';
import { LimitsService } from './limits/limits.service';
import { MonitorsController } from './monitors/monitors.controller';
import { MonitorsRepository } from './monitors/monitors.repository';
import { MonitorsService } from './monitors/monitors.service';
import { Wallet } from './wallet.entity';
import { WalletsController } from './wallets.controller';
import { WalletsRepository } from './wallets.repository';
import { WalletsService } from './wallets.service';

@Module({
  imports: [TypeOrmModule.forFeature([Wallet])],
  controllers: [WalletsController, LimitsController, MonitorsController],
  providers: [
    WalletsRepository,
    WalletsService,
    LimitsRepository,
    LimitsService,
    MonitorsRepository,
    MonitorsService,
  ],
  exports: [WalletsService],
})
export class WalletsModule {}
