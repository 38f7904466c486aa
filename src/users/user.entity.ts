import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn, UpdateDateColumn } from 'typeorm';

export const USER_STATUSES = ['ACTIVE', 'SUSPENDED', 'CLOSED'] as const;
export type UserStatus = (typeof USER_STATUSES)[number];
export const USER_ROLES = ['USER', 'ADMIN'] as const;
export type UserRole = (typeof USER_ROLES)[number];

/** A person with an account. The email is stored trimmed and lower-cased (a CHECK enforces it). */
@Entity('users')
export class User {
  @PrimaryGeneratedColumn('uuid') id!: string;

  @Column({ type: 'varchar', length: 254 }) email!: string;

  /** bcrypt hash. Never selected unless asked for by name, so it cannot leak through a plain find. */
  @Column({ name: 'password_hash', type: 'varchar', length: 100, select: false }) passwordHash!: string;

  @Column({ name: 'full_name', type: 'varchar', length: 200 }) fullName!: string;

  @Column({ type: 'varchar', length: 16 }) status!: UserStatus;

  @Column({ type: 'varchar', length: 16 }) role!: UserRole;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' }) createdAt!: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' }) updatedAt!: Date;
}
