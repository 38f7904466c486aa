import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';
import type { Money } from '../common/money/money';
import { moneyTransformer } from '../database/money.transformer';

/** One line of a wallet's statement: the signed amount of a completed movement and the balance after it. */
@Entity('ledger_entries')
export class LedgerEntry {
  @PrimaryGeneratedColumn({ type: 'bigint' }) id!: string;

  @Column({ name: 'wallet_id', type: 'uuid' }) walletId!: string;

  @Column({ name: 'transaction_id', type: 'uuid' }) transactionId!: string;

  @Column({ type: 'numeric', precision: 18, scale: 4, transformer: moneyTransformer }) amount!: Money;

  @Column({ name: 'balance_after', type: 'numeric', precision: 18, scale: 4, transformer: moneyTransformer })
  balanceAfter!: Money;

  @Column({ name: 'created_at', type: 'timestamptz' }) createdAt!: Date;
}
