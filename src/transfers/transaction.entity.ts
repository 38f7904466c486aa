import { Column, Entity, PrimaryColumn } from 'typeorm';
import type { Money } from '../common/money/money';
import { moneyTransformer } from '../database/money.transformer';

export type TransactionType = 'TRANSFER' | 'DEPOSIT' | 'WITHDRAWAL';
export type TransactionStatus = 'PENDING' | 'COMPLETED' | 'FAILED';

/** A money movement. Append-only in the database: once settled it never changes (see the migration's triggers). */
@Entity('transactions')
export class Transaction {
  @PrimaryColumn('uuid') id!: string;

  /** Insertion order: the keyset of statement paging. */
  @Column({ type: 'bigint', insert: false, update: false }) seq!: string;

  @Column({ type: 'varchar', length: 16 }) type!: TransactionType;

  @Column({ type: 'varchar', length: 16 }) status!: TransactionStatus;

  @Column({ name: 'source_wallet_id', type: 'uuid', nullable: true }) sourceWalletId!: string | null;

  @Column({ name: 'destination_wallet_id', type: 'uuid', nullable: true }) destinationWalletId!:
    string | null;

  @Column({ type: 'numeric', precision: 18, scale: 4, transformer: moneyTransformer }) amount!: Money;

  @Column({
    name: 'held_amount',
    type: 'numeric',
    precision: 18,
    scale: 4,
    nullable: true,
    transformer: moneyTransformer,
  })
  heldAmount!: Money | null;

  @Column({ type: 'char', length: 3 }) currency!: string;

  @Column({ type: 'varchar', length: 500, nullable: true }) description!: string | null;

  @Column({ type: 'varchar', length: 255, nullable: true }) reference!: string | null;

  @Column({ name: 'failure_reason', type: 'varchar', length: 64, nullable: true }) failureReason!:
    string | null;

  @Column({ name: 'initiated_by', type: 'uuid', nullable: true }) initiatedBy!: string | null;

  @Column({ name: 'hold_expires_at', type: 'timestamptz', nullable: true }) holdExpiresAt!: Date | null;

  @Column({ name: 'created_at', type: 'timestamptz' }) createdAt!: Date;

  @Column({ name: 'completed_at', type: 'timestamptz', nullable: true }) completedAt!: Date | null;
}
