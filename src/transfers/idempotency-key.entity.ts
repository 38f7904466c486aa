import { Column, Entity, PrimaryColumn } from 'typeorm';

/** The first response to a money-moving request, replayed for the same (caller, key). */
@Entity('idempotency_keys')
export class IdempotencyKey {
  @PrimaryColumn({ name: 'user_id', type: 'uuid' }) userId!: string;

  @PrimaryColumn({ type: 'varchar', length: 255 }) key!: string;

  @Column({ name: 'request_hash', type: 'char', length: 64 }) requestHash!: string;

  @Column({ name: 'status_code', type: 'smallint' }) statusCode!: number;

  @Column({ type: 'json' }) response!: unknown;

  @Column({ name: 'transaction_id', type: 'uuid', nullable: true }) transactionId!: string | null;

  @Column({ name: 'created_at', type: 'timestamptz' }) createdAt!: Date;
}
