import { ApiProperty } from '@nestjs/swagger';
import { IsCurrency } from '../../common/money/validators';
import type { Wallet } from '../wallet.entity';

export class CreateWalletDto {
  @IsCurrency() currency!: string;
}

export class WalletDto {
  @ApiProperty({ format: 'uuid', example: '0c9e8d7f-6a5b-4c3d-8e2f-1a0b9c8d7e6f' }) id!: string;
  @ApiProperty({ format: 'uuid', example: '3f0c9a52-8a43-4c4e-9a0e-2f1b7d6c5e4a' }) userId!: string;
  @ApiProperty({ example: 'USD' }) currency!: string;
  @ApiProperty({ example: '125.5000', description: 'Settled balance' }) balance!: string;
  @ApiProperty({
    example: '100.5000',
    description: 'Balance less open holds plus the overdraft limit: what can be spent now',
  })
  availableBalance!: string;
  @ApiProperty({ example: '0.0000', description: 'How far below zero the balance may go' })
  overdraftLimit!: string;
  @ApiProperty({
    type: 'integer',
    example: 3,
    description: 'Optimistic-lock version, bumped by every balance change',
  })
  version!: number;
  @ApiProperty({ format: 'date-time', example: '2025-11-24T10:15:30.000Z' }) createdAt!: string;
  @ApiProperty({ format: 'date-time', example: '2025-11-24T10:20:00.000Z' }) updatedAt!: string;

  /** The fields that go out, and only those. */
  static from(w: Wallet): WalletDto {
    return {
      id: w.id,
      userId: w.userId,
      currency: w.currency,
      balance: w.balance.toFixed4(),
      availableBalance: w.balance.minus(w.held).plus(w.overdraftLimit).toFixed4(),
      overdraftLimit: w.overdraftLimit.toFixed4(),
      version: w.version,
      createdAt: w.createdAt.toISOString(),
      updatedAt: w.updatedAt.toISOString(),
    };
  }
}
