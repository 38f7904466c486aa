import {
  Column,
  CreateDateColumn,
  Entity,
  PrimaryGeneratedColumn,
  UpdateDateColumn,
  VersionColumn,
} from 'typeorm';
import type { Money } from '../common/money/money';
import { moneyTransformer } from '../database/money.transformer';

/**
 * One wallet per user. `balance` and `held` change only through the TransferService, with
 * version-checked updates: TypeORM's save() does not check @VersionColumn (typeorm#2848).
 */
@Entity('wallets')
export class Wallet {
  @PrimaryGeneratedColumn('uuid') id!: string;

  @Column({ name: 'user_id', type: 'uuid' }) userId!: string;

  @Column({ type: 'char', length: 3 }) currency!: string;

  @Column({ type: 'numeric', precision: 18, scale: 4, transformer: moneyTransformer }) balance!: Money;

  /** Sum of the open holds placed on this wallet: available = balance - held + overdraftLimit. */
  @Column({ type: 'numeric', precision: 18, scale: 4, transformer: moneyTransformer }) held!: Money;

  /** How far below zero the balance may go (contract v1.2); set by an admin with the limits. */
  @Column({
    name: 'overdraft_limit',
    type: 'numeric',
    precision: 18,
    scale: 4,
    transformer: moneyTransformer,
    insert: false,
  })
  overdraftLimit!: Money;

  @VersionColumn() version!: number;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' }) createdAt!: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' }) updatedAt!: Date;
}
