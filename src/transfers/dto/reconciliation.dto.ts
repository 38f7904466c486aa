import { ApiProperty } from '@nestjs/swagger';

export class CurrencyReconciliationDto {
  @ApiProperty({ example: 'USD' }) currency!: string;
  @ApiProperty({ example: '1000.0000' }) totalBalances!: string;
  @ApiProperty({ example: '40.0000', description: 'Sum of open holds' }) totalHeld!: string;
  @ApiProperty({ example: '1200.0000' }) totalDeposits!: string;
  @ApiProperty({ example: '200.0000' }) totalWithdrawals!: string;
  @ApiProperty({ description: 'balances = deposits - withdrawals' }) ok!: boolean;
}

export class WalletMismatchDto {
  @ApiProperty({ format: 'uuid' }) walletId!: string;
  @ApiProperty() balance!: string;
  @ApiProperty({ description: 'Sum of the wallet ledger entries' }) ledgerTotal!: string;
  @ApiProperty() held!: string;
  @ApiProperty({ description: 'Sum of the open holds on the wallet' }) openHolds!: string;
}

export class ReconciliationDto {
  @ApiProperty({ description: 'True when no mismatch was found' }) ok!: boolean;
  @ApiProperty({ format: 'date-time' }) checkedAt!: string;
  @ApiProperty({ type: [CurrencyReconciliationDto] }) currencies!: CurrencyReconciliationDto[];
  @ApiProperty({
    type: [WalletMismatchDto],
    description: 'Balance differs from ledger, or held from open holds',
  })
  walletMismatches!: WalletMismatchDto[];
}
