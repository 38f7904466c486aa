import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import type { Repository } from 'typeorm';
import { eventInsert, eventInsertArrays, outboxEvent } from '../events/outbox';
import { OutboxSignal } from '../events/outbox-signal';
import { UserDto } from './dto/user.dto';
import { User, type UserRole, type UserStatus } from './user.entity';

export interface NewUser {
  email: string;
  passwordHash: string;
  fullName: string;
  role?: UserRole;
}

/** What the JWT guard needs to know about a token's user, read on every (uncached) request. */
export interface UserAccessState {
  status: UserStatus;
  role: UserRole;
}

/** The users table. The password hash is read only by `getCredentialsByEmail`. */
@Injectable()
export class UsersRepository {
  constructor(
    @InjectRepository(User) private readonly users: Repository<User>,
    private readonly outbox: OutboxSignal,
  ) {}

  getById(id: string): Promise<User | null> {
    return this.users.findOneBy({ id });
  }

  getByEmail(email: string): Promise<User | null> {
    return this.users.findOneBy({ email });
  }

  async getCredentialsByEmail(email: string): Promise<{ user: User; passwordHash: string } | null> {
    const user = await this.users
      .createQueryBuilder('u')
      .addSelect('u.passwordHash')
      .where('u.email = :email', { email })
      .getOne();
    if (!user) return null;
    const { passwordHash, ...rest } = user;
    return { user: Object.assign(new User(), rest), passwordHash };
  }

  async getAccessState(id: string): Promise<UserAccessState | null> {
    const row = await this.users.findOne({ select: { status: true, role: true }, where: { id } });
    return row ? { status: row.status, role: row.role } : null;
  }

  /** Inserts a user; a taken email fails on the unique key users_email_key (23505). */
  async create(input: NewUser): Promise<User> {
    const values = { ...input, role: input.role ?? 'USER', status: 'ACTIVE' as const };
    const result = await this.users
      .createQueryBuilder()
      .insert()
      .values(values)
      .returning(['id', 'created_at', 'updated_at'])
      .execute();
    const generated = result.generatedMaps[0] as Pick<User, 'id' | 'createdAt' | 'updatedAt'>;
    const { passwordHash: _hash, ...visible } = values;
    return Object.assign(new User(), visible, generated);
  }

  /** Inserts the user unless the email is taken; true when this call created it. */
  async createIfAbsent(input: NewUser): Promise<boolean> {
    const result = await this.users
      .createQueryBuilder()
      .insert()
      .values({ ...input, role: input.role ?? 'USER', status: 'ACTIVE' })
      .orIgnore()
      .returning(['id'])
      .execute();
    return (result.raw as unknown[]).length > 0;
  }

  /**
   * Sets the status and answers the user as this change left it (null when there is no such user). When the
   * status really changes, it writes its `user.status_changed` event in the same transaction (the outbox).
   *
   * Money must never leave an account once its suspension is answered, on any instance. The engine's write
   * checks the owner's status in its own snapshot, so a write planned before this change could commit after
   * it. What orders the two is the wallet row: this change first bumps the version of the user's wallet (locked
   * by that update), so a write that read it before is refused by its own
   * version check and decides again, seeing the new status; a write that holds it commits before this
   * change can. The status change, rare, pays for it; a transfer takes no lock it did not already take.
   * The user row is locked FOR NO KEY UPDATE, which the foreign-key checks of concurrent writes (KEY SHARE)
   * do not wait for.
   */
  async setStatus(id: string, status: UserStatus): Promise<User | null> {
    const user = await this.users.manager.transaction(async (m) => {
      // One wallet per user (wallets_user_key), so no lock order to keep among them. (In a WITH: TypeORM
      // answers a bare UPDATE ... RETURNING as [rows, count].)
      const wallets = await m.query<Array<{ id: string }>>(
        `WITH b AS (UPDATE wallets SET version = version + 1 WHERE user_id = $1 RETURNING id) SELECT id FROM b`,
        [id],
      );
      const before = await m.query<Array<{ status: UserStatus }>>(
        `SELECT status FROM users WHERE id = $1 FOR NO KEY UPDATE`,
        [id],
      );
      if (before.length === 0) return null;
      const rows = await m.query<Array<Record<string, unknown>>>(
        `WITH c AS (
           UPDATE users SET status = $2::varchar,
                  updated_at = CASE WHEN status = $2::varchar THEN updated_at ELSE now() END
            WHERE id = $1
            RETURNING id, email, full_name, status, role, created_at, updated_at)
         SELECT * FROM c`,
        [id, status],
      );
      const row = rows[0];
      const user = Object.assign(new User(), {
        id: row.id,
        email: row.email,
        fullName: row.full_name,
        status: row.status,
        role: row.role,
        createdAt: row.created_at,
        updatedAt: row.updated_at,
      });
      if (before[0].status === status) return user;
      const event = outboxEvent(
        'user.status_changed',
        wallets.map((w) => w.id),
        [id],
        { user: UserDto.from(user) },
      );
      await m.query(eventInsert(1, 'now()'), eventInsertArrays([event]));
      return user;
    });
    this.outbox.written();
    return user;
  }

  async promoteToAdmin(id: string, passwordHash?: string): Promise<void> {
    await this.users
      .createQueryBuilder()
      .update()
      .set({ role: 'ADMIN', ...(passwordHash ? { passwordHash } : {}) })
      .where('id = :id', { id })
      .execute();
  }
}
