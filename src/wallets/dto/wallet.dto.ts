import { ApiProperty } from '@nestjs/swagger';
import { IsCurrency } from '../../common/money/validators';
import type { Wallet } from '../wallet.entity';

export class CreateWalletDto {
  @IsCurrency() currency!: string;
}

export class WalletDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty({ format: 'uuid' }) userId!: string;
  @ApiProperty({ example: 'USD' }) currency!: string;
  @ApiProperty({ example: '125.5000', description: 'Settled balance' }) balance!: string;
  @ApiProperty({ example: '100.5000', description: 'Balance less open holds: what can be spent now' })
  availableBalance!: string;
  @ApiProperty({ example: 3, description: 'Optimistic-lock version, bumped by every balance change' })
  version!: number;
  @ApiProperty({ format: 'date-time' }) createdAt!: string;
  @ApiProperty({ format: 'date-time' }) updatedAt!: string;

  /** The fields that go out, and only those. */
  static from(w: Wallet): WalletDto {
    return {
      id: w.id,
      userId: w.userId,
      currency: w.currency,
      balance: w.balance.toFixed4(),
      availableBalance: w.balance.minus(w.held).toFixed4(),
      version: w.version,
      createdAt: w.createdAt.toISOString(),
      updatedAt: w.updatedAt.toISOString(),
    };
  }
}
